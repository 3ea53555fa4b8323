# benchfmt.awk — turns `go test -bench` output into key=value lines.
# Every custom metric whose unit contains "_" is a key. Keys that an issue
# asks to see side by side are printed together on one line, in that order;
# the others get a line each.
#
# A key must be reported once. Benchmarks that need several samples take them
# themselves and report a median (see server/crypt/bench_test.go), so a key
# seen twice (for example from -count 3) is an error, not a value to drop.
BEGIN {
	groups[1] = "crypt_seal_MBps crypt_seal_baseline_MBps ratio_seal crypt_open_MBps crypt_open_baseline_MBps ratio_open crypt_stream_1GiB_heap_growth_MiB"
	ngroups = 1
	failed = 0
}
# A benchmark may print its own key=value line; it is passed through as is.
/^[a-z][A-Za-z0-9_]*=[^ ]+( [a-z][A-Za-z0-9_]*=[^ ]+)*$/ { print; next }
/^Benchmark/ {
	for (i = 3; i < NF; i += 2) {
		key = $(i + 1)
		if (key !~ /_/) continue
		if (key in val) {
			printf "benchfmt: %s reported more than once (%s, then %s); run each benchmark once and let it report its median\n", key, val[key], $i > "/dev/stderr"
			failed = 1
			continue
		}
		order[++n] = key
		val[key] = $i
	}
}
function fmt(v) { return (v + 0 < 10) ? sprintf("%.2f", v) : sprintf("%.0f", v) }
END {
	if (failed) exit 1
	for (g = 1; g <= ngroups; g++) {
		k = split(groups[g], keys, " ")
		complete = 1
		for (j = 1; j <= k; j++) if (!(keys[j] in val)) complete = 0
		if (!complete) continue
		line = ""
		for (j = 1; j <= k; j++) {
			line = line (j > 1 ? " " : "") keys[j] "=" fmt(val[keys[j]])
			done[keys[j]] = 1
		}
		print line
	}
	for (j = 1; j <= n; j++) if (!(order[j] in done)) print order[j] "=" fmt(val[order[j]])
}
