# benchfmt.awk — turns `go test -bench` output into key=value lines.
# Every custom metric whose unit contains "_" is a key. Keys that an issue
# asks to see side by side are printed together on one line, in that order;
# the others get a line each.
BEGIN {
	groups[1] = "crypt_stream_seal_MBps crypt_stream_open_MBps raw_gcm_MBps ratio_seal ratio_open"
	ngroups = 1
}
# A benchmark may print its own key=value line; it is passed through as is.
/^[a-z][a-z0-9_]*=[^ ]+( [a-z][a-z0-9_]*=[^ ]+)*$/ { print; next }
/^Benchmark/ {
	for (i = 3; i < NF; i += 2) {
		if ($(i + 1) ~ /_/) {
			if (!($(i + 1) in val)) order[++n] = $(i + 1)
			val[$(i + 1)] = $i
		}
	}
}
function fmt(v) { return (v + 0 < 10) ? sprintf("%.2f", v) : sprintf("%.0f", v) }
END {
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
