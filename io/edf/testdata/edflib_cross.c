/* edflib_cross: the EDFlib side of the io/edf cross-check (see edflib_test.go).
 *
 *   edflib_cross write PATH edf+|bdf+   writes a file with EDFlib: 3 signals at 256, 100 and
 *                                       7 Hz, different ranges, 10 one-second records and
 *                                       annotations (with and without durations, UTF-8 text)
 *   edflib_cross dump PATH              reads a file with EDFlib and prints its header, every
 *                                       signal's digital and physical samples and annotations
 *
 * Build: gcc -O1 -o edflib_cross edflib_cross.c -ledf   (Debian package libedf-dev) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <edflib.h>

static int do_write(const char *path, const char *kind) {
  int bdf = strcmp(kind, "bdf+") == 0;
  int ft = bdf ? EDFLIB_FILETYPE_BDFPLUS : EDFLIB_FILETYPE_EDFPLUS;
  int rates[3] = {256, 100, 7};
  double pmin[3] = {-3200.0, -10.0, 0.0}, pmax[3] = {3200.0, 25.5, 1000.0};
  int dmin[3], dmax[3];
  const char *labels[3] = {"EEG Fp1-A1", "ECG", "Temp"};
  const char *dims[3] = {"uV", "mV", "degC"};
  if (bdf) { dmin[0] = -8388608; dmax[0] = 8388607; dmin[1] = -100000; dmax[1] = 100000; dmin[2] = 0; dmax[2] = 65535; }
  else     { dmin[0] = -32768;   dmax[0] = 32767;   dmin[1] = -2048;   dmax[1] = 2047;   dmin[2] = 0; dmax[2] = 32767; }
  int h = edfopen_file_writeonly(path, ft, 3);
  if (h < 0) { fprintf(stderr, "edfopen_file_writeonly: %d\n", h); return 1; }
  for (int s = 0; s < 3; s++) {
    if (edf_set_samplefrequency(h, s, rates[s]) || edf_set_physical_maximum(h, s, pmax[s]) ||
        edf_set_physical_minimum(h, s, pmin[s]) || edf_set_digital_maximum(h, s, dmax[s]) ||
        edf_set_digital_minimum(h, s, dmin[s]) || edf_set_label(h, s, labels[s]) ||
        edf_set_physical_dimension(h, s, dims[s])) { fprintf(stderr, "signal %d setup failed\n", s); return 1; }
  }
  edf_set_startdatetime(h, 2021, 7, 14, 9, 30, 15);
  edf_set_patientname(h, "Jane Doe");
  edf_set_patientcode(h, "P-0042");
  edf_set_equipment(h, "cross-check");
  double *buf = malloc(sizeof(double) * 256);
  for (int r = 0; r < 10; r++) {
    for (int s = 0; s < 3; s++) {
      for (int i = 0; i < rates[s]; i++) {
        double t = r + (double)i / rates[s];
        double v;
        if (s == 0) v = 2000.0 * sin(2 * M_PI * 10.0 * t) + 300.0 * sin(2 * M_PI * 1.3 * t);
        else if (s == 1) v = 12.0 * sin(2 * M_PI * 1.1 * t) + 3.0 * cos(2 * M_PI * 7.0 * t);
        else v = 36.6 + 10.0 * t;
        buf[i] = v;
      }
      if (edfwrite_physical_samples(h, buf) != 0) { fprintf(stderr, "write failed\n"); return 1; }
    }
  }
  free(buf);
  edfwrite_annotation_utf8(h, 12500, 5000, "stimulus left");
  edfwrite_annotation_utf8(h, 40000, -1, "right");
  edfwrite_annotation_utf8(h, 71234, 0, "\xc3\xa9v\xc3\xa9nement");
  if (edfclose_file(h) != 0) { fprintf(stderr, "edfclose_file failed\n"); return 1; }
  return 0;
}

static int do_dump(const char *path) {
  struct edf_hdr_struct hdr;
  if (edfopen_file_readonly(path, &hdr, EDFLIB_READ_ALL_ANNOTATIONS) < 0) {
    fprintf(stderr, "edfopen_file_readonly: error %d\n", hdr.filetype);
    return 1;
  }
  int h = hdr.handle;
  printf("filetype %d\n", hdr.filetype);
  printf("signals %d\n", hdr.edfsignals);
  printf("records %lld\n", hdr.datarecords_in_file);
  printf("duration %lld\n", hdr.datarecord_duration);
  printf("start %d %d %d %d %d %d\n", hdr.startdate_year, hdr.startdate_month, hdr.startdate_day,
         hdr.starttime_hour, hdr.starttime_minute, hdr.starttime_second);
  printf("patientcode %s\n", hdr.patientcode);
  printf("patientname %s\n", hdr.patient_name);
  printf("equipment %s\n", hdr.equipment);
  for (int s = 0; s < hdr.edfsignals; s++) {
    struct edf_param_struct *p = &hdr.signalparam[s];
    printf("signal %d\t%s\t%s\t%.17g\t%.17g\t%d\t%d\t%d\t%lld\n", s, p->label, p->physdimension,
           p->phys_min, p->phys_max, p->dig_min, p->dig_max, p->smp_in_datarecord, p->smp_in_file);
    long long n = p->smp_in_file;
    int *d = malloc(sizeof(int) * n);
    double *v = malloc(sizeof(double) * n);
    if (edfread_digital_samples(h, s, n, d) != n) { fprintf(stderr, "digital read failed\n"); return 1; }
    edfrewind(h, s);
    if (edfread_physical_samples(h, s, n, v) != n) { fprintf(stderr, "physical read failed\n"); return 1; }
    printf("digital %d", s);
    for (long long i = 0; i < n; i++) printf(" %d", d[i]);
    printf("\nphysical %d", s);
    for (long long i = 0; i < n; i++) printf(" %.17g", v[i]);
    printf("\n");
    free(d);
    free(v);
  }
  for (long long i = 0; i < hdr.annotations_in_file; i++) {
    struct edf_annotation_struct a;
    if (edf_get_annotation(h, i, &a)) { fprintf(stderr, "annotation %lld failed\n", i); return 1; }
    printf("annotation\t%lld\t%s\t%s\n", a.onset, a.duration, a.annotation);
  }
  edfclose_file(h);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 4 && strcmp(argv[1], "write") == 0) return do_write(argv[2], argv[3]);
  if (argc == 3 && strcmp(argv[1], "dump") == 0) return do_dump(argv[2]);
  fprintf(stderr, "usage: edflib_cross write PATH edf+|bdf+ | dump PATH\n");
  return 2;
}
