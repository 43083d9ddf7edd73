package demo

import (
	"bytes"
	"embed"
	"encoding/csv"
	"fmt"
	"strconv"
)

// data holds the real Changzhi divisions and per-township village counts,
// copied from the project's shared reference data (see data/README.md).
//
//go:embed data/*.csv
var data embed.FS

type division struct {
	code, name, level, parent string
}

func readCSV(name string) ([][]string, error) {
	b, err := data.ReadFile("data/" + name)
	if err != nil {
		return nil, err
	}
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return rows[1:], nil
}

// divisions returns the city, counties and townships in file order.
func divisions() ([]division, error) {
	rows, err := readCSV("changzhi-divisions.csv")
	if err != nil {
		return nil, err
	}
	out := make([]division, 0, len(rows))
	for _, r := range rows {
		out = append(out, division{code: r[0], name: r[1], level: r[2], parent: r[3]})
	}
	return out, nil
}

// villageCounts maps a 9-digit township code to its number of villages.
func villageCounts() (map[string]int, error) {
	rows, err := readCSV("changzhi-village-counts.csv")
	if err != nil {
		return nil, err
	}
	out := make(map[string]int, len(rows))
	for _, r := range rows {
		n, err := strconv.Atoi(r[1])
		if err != nil {
			return nil, fmt.Errorf("village count %q: %w", r[1], err)
		}
		out[r[0]] = n
	}
	return out, nil
}
