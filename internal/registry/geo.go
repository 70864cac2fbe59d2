package registry

import (
	"bufio"
	"bytes"
	_ "embed"
	"fmt"
	"strconv"
	"strings"
	"sync"
)

//go:embed data/pakistan_districts.csv
var districtsCSV []byte

// District is one of Pakistan's districts with its stable code.
type District struct {
	Code     int    `json:"code"`
	Name     string `json:"name"`
	Province int    `json:"province"`
}

// Provinces is the vocabulary of provinces and territories (codes as in
// data/pakistan_districts.csv).
var Provinces = vocab("province", "Punjab", "Sindh", "Khyber Pakhtunkhwa", "Balochistan",
	"Islamabad Capital Territory", "Gilgit-Baltistan", "Azad Jammu and Kashmir")

var (
	geoOnce   sync.Once
	districts []District
	geoErr    error
)

// Districts returns Pakistan's districts as shipped in
// data/pakistan_districts.csv (its header cites the source).
func Districts() []District {
	geoOnce.Do(func() { districts, geoErr = parseDistricts(districtsCSV) })
	if geoErr != nil {
		panic(geoErr) // embedded data, checked by the tests
	}
	return districts
}

func parseDistricts(b []byte) ([]District, error) {
	var out []District
	seen := map[int]bool{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	header := false
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if !header {
			header = true
			continue
		}
		f := strings.Split(line, ",")
		if len(f) != 3 {
			return nil, fmt.Errorf("districts line %d: want code,province,district", n)
		}
		code, err := strconv.Atoi(f[0])
		if err != nil || code <= 0 || seen[code] {
			return nil, fmt.Errorf("districts line %d: bad or repeated code %q", n, f[0])
		}
		seen[code] = true
		p, err := Provinces.Code(f[1])
		if err != nil || p == 0 {
			return nil, fmt.Errorf("districts line %d: %v", n, err)
		}
		out = append(out, District{Code: code, Name: f[2], Province: p})
	}
	return out, sc.Err()
}

// LookupDistrict finds a district by name (any case; with a province
// name when two provinces have districts of that name) or by code.
func LookupDistrict(name string) (District, error) {
	n := strings.TrimSpace(name)
	if c, err := strconv.Atoi(n); err == nil {
		for _, d := range Districts() {
			if d.Code == c {
				return d, nil
			}
		}
	}
	for _, d := range Districts() {
		if strings.EqualFold(d.Name, n) {
			return d, nil
		}
	}
	return District{}, fmt.Errorf("%w: district %q is not in Pakistan's district list", ErrInvalid, name)
}

// DistrictName returns the name of a district code ("Unknown" for 0).
func DistrictName(code int) string {
	for _, d := range Districts() {
		if d.Code == code {
			return d.Name
		}
	}
	return "Unknown"
}
