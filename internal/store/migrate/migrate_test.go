package migrate

import (
	"errors"
	"testing"
	"testing/fstest"
)

func TestLoad(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		want    []int
		wantErr bool
	}{
		{"ordered", map[string]string{"m/0002_b.sql": "B", "m/0001_a.sql": "A", "m/README.md": "x"}, []int{1, 2}, false},
		{"gap", map[string]string{"m/0001_a.sql": "A", "m/0003_c.sql": "C"}, nil, true},
		{"duplicate", map[string]string{"m/0001_a.sql": "A", "m/0001_b.sql": "B"}, nil, true},
		{"bad name", map[string]string{"m/first.sql": "A"}, nil, true},
		{"zero", map[string]string{"m/0000_a.sql": "A"}, nil, true},
		{"empty", map[string]string{"m/README.md": "x"}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for k, v := range tt.files {
				fsys[k] = &fstest.MapFile{Data: []byte(v)}
			}
			ms, err := Load(fsys, "m")
			if (err != nil) != tt.wantErr {
				t.Fatalf("Load: err = %v, wantErr %v", err, tt.wantErr)
			}
			if len(ms) != len(tt.want) {
				t.Fatalf("Load: %d migrations, want %d", len(ms), len(tt.want))
			}
			for i, m := range ms {
				if m.Version != tt.want[i] || m.SQL != tt.files["m/"+m.Name] {
					t.Errorf("migration %d = %+v", i, m)
				}
			}
		})
	}
}

func TestPending(t *testing.T) {
	ms := []Migration{{Version: 1}, {Version: 2}, {Version: 3}}
	for cur, want := range []int{3, 2, 1, 0} {
		p, err := Pending(ms, cur)
		if err != nil || len(p) != want || (want > 0 && p[0].Version != cur+1) {
			t.Errorf("Pending(%d) = %v, %v", cur, p, err)
		}
	}
	if _, err := Pending(ms, 4); !errors.Is(err, ErrTooNew) {
		t.Errorf("Pending(4): err = %v, want ErrTooNew", err)
	}
}
