#!/bin/sh
# third_party/check.sh: checks the invariant of third_party/compute, or prepares a base tree
# for writing the next patch.
#
#   third_party/check.sh            a fresh copy of gomlx/compute at the version go.mod requires,
#                                   from the module cache (go mod download fetches it when absent),
#                                   run through gofmt, plus every third_party/patches/*.patch in
#                                   numeric order (patch -p1), must equal third_party/compute byte
#                                   for byte. Fails naming the first differing file and showing
#                                   its diff; fails naming the patch that does not apply.
#   third_party/check.sh base DIR [NNNN]
#                                   writes that copy into DIR (which must not exist), with only the
#                                   patches numbered below NNNN applied (all when NNNN is omitted).
#                                   Write patch NNNN as: diff -ruN DIR third_party/compute, with
#                                   paths relabelled a/ and b/ (or use the diff command).
#   third_party/check.sh diff NNNN  prints patch NNNN as it should be: the diff -ruN from the copy
#                                   with every other patch applied to third_party/compute, paths
#                                   a/ and b/, no timestamps, headed by the description paragraph
#                                   of the existing third_party/patches/NNNN-*.patch if there is one.
#                                   Regenerate your patch with it after a rebase:
#                                     third_party/check.sh diff 0003 >/tmp/p && mv /tmp/p third_party/patches/0003-....patch
#
# Needs go, gofmt, diff and patch (or git). Run from anywhere; `make vet` runs the check.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
module=github.com/gomlx/compute
copy="$root/third_party/compute"
patches="$root/third_party/patches"

die() { echo "third_party/check.sh: $*" >&2; exit 1; }

for tool in go gofmt diff; do
	command -v "$tool" >/dev/null 2>&1 || die "$tool not found (needed to rebuild third_party/compute from $module and its patches)"
done

# The version is the one go.mod requires (the replace points the build at the copy).
version=$(sed -n "s|^[[:space:]]*$module[[:space:]]\{1,\}\(v[^[:space:]]*\).*|\1|p" "$root/go.mod" | head -n 1)
[ -n "$version" ] || die "go.mod: no require line for $module"

# build DIR UPTO [SKIP]: pristine gofmt'd copy plus the patches numbered below UPTO ("" = all),
# except patch SKIP, into DIR. (Its loop variables are p, name and pnum: diff reads $num after it.)
build() {
	dir=$1 upto=$2 skip=${3:-}
	src=$(cd "$root" && GOFLAGS=-mod=mod go mod download -json "$module@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	[ -n "$src" ] && [ -d "$src" ] || die "go mod download $module@$version: no module directory (is the module proxy reachable?)"
	mkdir -p "$dir"
	cp -R "$src/." "$dir/"
	chmod -R u+w "$dir"
	gofmt -w "$dir" || die "gofmt -w failed on the pristine copy of $module@$version"
	for p in "$patches"/[0-9]*.patch; do
		[ -e "$p" ] || continue
		name=$(basename "$p")
		pnum=${name%%-*}
		case "$(head -c 5 "$p")" in
		"diff "|"--- a"|"Index") die "third_party/patches/$name: starts with the diff; head it with a paragraph describing the change (as for upstream)" ;;
		esac
		if [ -n "$upto" ] && [ "$pnum" -ge "$upto" ]; then
			continue
		fi
		if [ "$pnum" = "$skip" ]; then
			continue
		fi
		if command -v patch >/dev/null 2>&1; then
			apply() { patch -p1 -s --batch --forward --no-backup-if-mismatch -d "$dir" <"$1"; }
		else
			apply() { (cd "$dir" && git apply -p1 "$1"); } # same result where patch(1) is not installed
		fi
		if ! out=$(apply "$p" 2>&1); then
			echo "$out" >&2
			die "third_party/patches/$name does not apply to $module@$version plus the patches before it"
		fi
		if [ -n "$(find "$dir" -name '*.rej' -o -name '*.orig')" ]; then
			die "third_party/patches/$name left .rej/.orig files (it does not apply cleanly)"
		fi
	done
}

case "${1:-check}" in
base)
	[ $# -ge 2 ] || die "usage: third_party/check.sh base DIR [NNNN]"
	[ ! -e "$2" ] || die "$2 exists; give a new directory"
	build "$2" "${3:-}"
	echo "$2: $module@$version, gofmt'd${3:+, patches below $3} applied"
	;;
diff)
	[ $# -ge 2 ] || die "usage: third_party/check.sh diff NNNN"
	num=$2
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	build "$tmp/a" "" "$num"
	ln -s "$copy" "$tmp/b"
	old=$(ls "$patches/$num"-*.patch 2>/dev/null | head -n 1)
	if [ -n "$old" ]; then
		sed -n '/^diff /q; p' "$old"
	fi
	(cd "$tmp" && diff -ruN a b) | sed 's/^\(--- a\/[^	]*\)	.*$/\1/; s/^\(+++ b\/[^	]*\)	.*$/\1/' || true
	;;
check)
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	build "$tmp/compute" ""
	if ! diff -rq "$tmp/compute" "$copy" >"$tmp/diffs" 2>&1; then
		first=$(head -n 1 "$tmp/diffs")
		echo "third_party/compute differs from $module@$version (gofmt'd) + third_party/patches/*.patch:" >&2
		echo "  first difference: $(echo "$first" | sed "s|$tmp/compute|<expected>|g; s|$root/||g")" >&2
		echo "  ($(wc -l <"$tmp/diffs") differing files in all; every change to the copy must be a numbered patch)" >&2
		file=$(echo "$first" | sed -n "s|^Files $tmp/compute/\(.*\) and .* differ$|\1|p")
		if [ -n "$file" ]; then
			diff -u "$tmp/compute/$file" "$copy/$file" | sed "s|$tmp/compute|<expected>|; s|$root/||" | head -n 40 >&2
		fi
		exit 1
	fi
	echo "third_party/compute == $module@$version (gofmt'd) + $(ls "$patches"/[0-9]*.patch 2>/dev/null | wc -l) patches"
	;;
*)
	die "unknown command $1 (use: check, or base DIR [NNNN])"
	;;
esac
