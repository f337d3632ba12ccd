package scaffold

const (
	ehrNote = `data/breast_cancer.csv is the Wisconsin Diagnostic Breast Cancer (WDBC) table: 569 patients, 30
real-valued features computed from digitised images of fine-needle aspirates of breast masses, and a
` + "`target`" + ` column (0 = malignant, 1 = benign; 212 malignant, 357 benign). No missing values, no identifiers.

- Source: scikit-learn (sklearn.datasets.load_breast_cancer), written as CSV.
- Original: W. N. Street, W. H. Wolberg, O. L. Mangasarian, UCI Machine Learning Repository,
  "Breast Cancer Wisconsin (Diagnostic)", https://doi.org/10.24432/C5DW2B (cite it if you report on it).
- Licence: CC BY 4.0 (UCI); scikit-learn's copy is BSD-3-Clause.`

	dicomNote = `data/ct-lesions/ is a synthetic CT study set written by biopipe's generator (io/dicom/dicomgen):
12 patients x 4 series x 6 axial slices (32x32, 16-bit, Rescale Intercept -1024). Each series has a
body outline, two lungs and one dense nodule whose shape, round or elongated, is the class.
data/ct-lesions/labels.csv maps each file path to its label. The patient names, IDs and dates in the
files are invented (no real person) and are there to show that ingest.dicom de-identifies them.
Licence: the same as biopipe (generated data).

Your own study: a folder of .dcm files (any layout) plus a labels CSV with a ` + "`path`" + ` column
(relative to the folder) and a ` + "`label`" + ` column; or class-named subfolders and ` + "`label_from: folder`" + `.`

	eegNote = `data/eeg/ holds eight synthetic EEG recordings (sub-01.edf ... sub-08.edf, EDF+) written by biopipe's
generator: 4 channels (C3, C4, O1, O2) at 128 Hz, 105 s each, with 40 annotated events per subject:
T1 = an occipital alpha burst (9-11.5 Hz), T2 = a central beta burst (18-24 Hz), over pink noise and
50 Hz line noise. The patient fields hold made-up identifiers (no real person) that ingest.signals
pseudonymises. Licence: the same as biopipe (generated data).

Your own recordings: EDF/EDF+/BDF files, one or more per subject, with annotations (or a trigger
channel: events_channel) marking the events you want to classify; map their texts in event_map.`

	exprNote = `data/sim10x/ (10x Genomics layout: matrix.mtx.gz, features.tsv.gz, barcodes.tsv.gz) and
data/sim10x-cells.csv (barcode, cell_type, batch, donor) are 800 simulated cells x 5,000 genes: five
immune cell types with marker genes, negative-binomial counts, library-size variation, a mild batch
effect and dropouts, written by biopipe's generator. No real subjects. Licence: the same as biopipe.

Your own data: a 10x folder (Cell Ranger's filtered_feature_bc_matrix), a MatrixMarket file, a GCT
file or a dense TSV/CSV matrix, plus an annotation table with one row per cell or sample.`

	digitsNote = `data/digits.csv.gz is scikit-learn's copy of the UCI "Optical Recognition of Handwritten Digits"
test set: 1,797 real handwritten digits written by 13 people, each an 8x8 image of pixel counts 0..16,
as a gzip-compressed CSV with no header row: 64 pixel columns in row-major order, then the digit.

- Source: sklearn/datasets/data/digits.csv.gz of scikit-learn, copied byte for byte (what
  sklearn.datasets.load_digits() reads).
- Original: E. Alpaydin, C. Kaynak, UCI Machine Learning Repository, "Optical Recognition of
  Handwritten Digits", https://doi.org/10.24432/C50P49 (cite it if you report on it).
- Licence: CC BY 4.0 (UCI); scikit-learn's copy is BSD-3-Clause.`
)

// templates lists every template (Templates sorts them).
var templates = []Template{
	{
		Name:     "tabular-ehr",
		Summary:  "patient table (EHR, lab values) -> MLP -> evaluation with confidence intervals (breast-cancer sample)",
		Data:     []string{"ehr/breast_cancer.csv"},
		DataNote: ehrNote,
	},
	{
		Name:     "dicom-cnn",
		Summary:  "DICOM CT slices -> de-identified, windowed images -> patient-grouped split, augmentation -> CNN (synthetic CT sample)",
		Data:     []string{"dicom/ct-lesions"},
		DataNote: dicomNote,
	},
	{
		Name:     "eeg-lstm",
		Summary:  "EEG recordings (EDF) -> filtered event epochs -> LSTM, tested on unseen subjects (synthetic 8-subject sample)",
		Data:     []string{"eeg"},
		DataNote: eegNote,
	},
	{
		Name:     "expression-vae",
		Summary:  "single-cell counts (10x) -> normalised variable genes -> VAE latent space -> cell-type classifier (simulated sample)",
		Data:     []string{"expr/sim10x", "expr/sim10x-cells.csv"},
		DataNote: exprNote,
	},
	{
		Name:     "gan",
		Summary:  "handwritten digits -> class-conditional GAN (DCGAN) -> 1,000 generated digits judged by a CNN trained on real ones",
		Data:     []string{"digits/digits.csv.gz"},
		DataNote: digitsNote,
	},
	{
		Name:     "paper-sweep",
		Summary:  "a paper's results table: a workflow over seeds and model sizes -> mean +- sd and intervals as Markdown/LaTeX/CSV (breast-cancer sample)",
		Data:     []string{"ehr/breast_cancer.csv"},
		DataNote: ehrNote,
		Files:    []string{"sweep.yaml"},
	},
}
