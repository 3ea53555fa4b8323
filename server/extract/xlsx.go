package extract

import (
	"bytes"
	"context"

	"github.com/xuri/excelize/v2"

	"github.com/tma-portal/tma/server/tma"
)

// noTempDir is where excelize would spill worksheets larger than its
// in-memory limit. It cannot exist ("/dev/null" is not a directory), so a
// spill fails instead of writing case data to disk. With both of
// excelize's limits at maxUnzipped, and the whole archive checked against
// maxUnzipped first, no part is ever large enough to spill.
const noTempDir = "/dev/null/tma-extract-never-spills"

// xlsxText extracts the cell values of every sheet of an Excel workbook,
// as excelize formats them: the sheet's name on a line, then one line per
// row with cells separated by tabs.
func xlsxText(ctx context.Context, data []byte, w *textBuilder) error {
	zr, err := openZip(data)
	if err != nil {
		return err
	}
	// excelize reads every part into memory: bound the sum, by the sizes
	// the directory declares (archive/zip enforces them while reading).
	var total uint64
	for _, f := range zr.File {
		total += f.UncompressedSize64
		if total > maxUnzipped {
			return errTooMuchUnzipped
		}
	}
	xf, err := excelize.OpenReader(bytes.NewReader(data), excelize.Options{
		UnzipSizeLimit:    maxUnzipped,
		UnzipXMLSizeLimit: maxUnzipped,
		TmpDir:            noTempDir,
	})
	if err != nil {
		return tma.Errorf(tma.EINVALID, "The file is not a valid Excel workbook.")
	}
	defer xf.Close()
	for _, sheet := range xf.GetSheetList() {
		if w.full {
			break
		}
		w.write(sheet)
		w.endLine()
		rows, err := xf.Rows(sheet)
		if err != nil {
			return tma.Errorf(tma.EINVALID, "The Excel workbook has an unreadable sheet.")
		}
		for i := 0; rows.Next() && !w.full; i++ {
			if i%1024 == 0 {
				if err := ctx.Err(); err != nil {
					rows.Close()
					return err
				}
			}
			cells, err := rows.Columns()
			if err != nil {
				rows.Close()
				return tma.Errorf(tma.EINVALID, "The Excel workbook has an unreadable sheet.")
			}
			for j, c := range cells {
				if j > 0 {
					w.endCell()
				}
				w.write(c)
			}
			w.endLine()
		}
		err = rows.Error()
		rows.Close()
		if err != nil {
			return tma.Errorf(tma.EINVALID, "The Excel workbook has an unreadable sheet.")
		}
	}
	return nil
}
