package sqlcore

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/registry"
)

// Case registry (registry.Store, issue 18).

var _ registry.Store = (*Core)(nil)

// regWhere turns a registry filter into conditions on the reg_cases or
// reg_incidents columns (incidents: also year and category).
func regWhere(f registry.Filter, incidents bool) (string, []any) {
	var where []string
	var args []any
	add := func(cond string, v any) { where, args = append(where, cond), append(args, v) }
	switch f.Scope {
	case registry.ScopeOwn:
		add(`owner = ?`, f.Principal)
	case registry.ScopeTeam:
		add(`org = ?`, f.Org)
		add(`team = ?`, f.Team)
	case registry.ScopeOrg:
		if incidents {
			add(`org = ?`, f.Org)
		} else {
			// An organisation also sees the cases referred to it while the
			// referral is accepted.
			where = append(where, `(org = ? OR id IN (SELECT case_id FROM reg_referrals WHERE to_org = ? AND state = 'accepted'))`)
			args = append(args, f.Org, f.Org)
		}
	case registry.ScopeAll:
	default:
		where = append(where, `1 = 0`) // no grant: nothing
	}
	if f.District > 0 {
		add(`district = ?`, f.District)
	}
	if f.Province > 0 {
		add(`province = ?`, f.Province)
	}
	if incidents {
		if f.Year > 0 {
			add(`year = ?`, f.Year)
		}
		if f.Category > 0 {
			add(`category = ?`, f.Category)
		}
	}
	if len(where) == 0 {
		return ``, nil
	}
	return ` WHERE ` + strings.Join(where, ` AND `), args
}

func andWhere(where, cond string) string {
	if where == `` {
		return ` WHERE ` + cond
	}
	return where + ` AND ` + cond
}

const accessCols = `principal, scope, org, team, level, district, province, can_write, granted_by, granted_at`

func scanAccess(row Row) (registry.Access, error) {
	var a registry.Access
	var scope, level string
	err := row.Scan(&a.Principal, &scope, &a.Org, &a.Team, &level, &a.District, &a.Province, &a.Write, &a.GrantedBy, scanTime(&a.GrantedAt))
	a.Scope, a.Level = registry.Scope(scope), registry.Level(level)
	return a, err
}

// PutAccess implements registry.Store.
func (c *Core) PutAccess(ctx context.Context, a registry.Access, e audit.Entry) error {
	return c.write(ctx, func(tx Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO reg_access (`+accessCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (principal) DO UPDATE SET scope = excluded.scope, org = excluded.org, team = excluded.team,
			level = excluded.level, district = excluded.district, province = excluded.province,
			can_write = excluded.can_write, granted_by = excluded.granted_by, granted_at = excluded.granted_at`,
			a.Principal, string(a.Scope), a.Org, a.Team, string(a.Level), a.District, a.Province, a.Write, a.GrantedBy, c.f.Time(a.GrantedAt)); err != nil {
			return fmt.Errorf("put registry access: %w", err)
		}
		_, err := c.AppendTx(ctx, tx, e)
		return err
	})
}

// GetAccess implements registry.Store.
func (c *Core) GetAccess(ctx context.Context, principal string) (registry.Access, error) {
	a, err := scanAccess(c.eng.Reader().QueryRow(ctx, `SELECT `+accessCols+` FROM reg_access WHERE principal = ?`, principal))
	if isNoRows(err) {
		return a, fmt.Errorf("registry access of %s: %w", principal, registry.ErrForbidden)
	}
	return a, err
}

// ListAccess implements registry.Store.
func (c *Core) ListAccess(ctx context.Context) ([]registry.Access, error) {
	return queryAll(ctx, c.eng.Reader(), scanAccess, `SELECT `+accessCols+` FROM reg_access ORDER BY principal`)
}

const caseCols = `id, org, team, owner, status, sex, age_band, district, province, personal, extra, created_at, updated_at`

func scanCase(row Row) (registry.Case, error) {
	var k registry.Case
	var extra string
	err := row.Scan(&k.ID, &k.Org, &k.Team, &k.Owner, &k.Status, &k.Sex, &k.AgeBand, &k.District, &k.Province,
		&k.Sealed, &extra, scanTime(&k.CreatedAt), scanTime(&k.UpdatedAt))
	if err == nil {
		err = decodeExtra(extra, &k.Extra)
	}
	return k, err
}

func decodeExtra(s string, x *registry.Extra) error {
	if s == "" || s == "{}" {
		return nil
	}
	return json.Unmarshal([]byte(s), x)
}

func encodeExtra(x registry.Extra) string {
	if len(x) == 0 {
		return "{}"
	}
	b, _ := json.Marshal(x) // map[string]string: cannot fail
	return string(b)
}

// CreateCase implements registry.Store.
func (c *Core) CreateCase(ctx context.Context, k registry.Case, seal func(id int64) (string, error), e audit.Entry) (registry.Case, error) {
	now := Now()
	k.CreatedAt, k.UpdatedAt = now, now
	if k.Status == "" {
		k.Status = "open"
	}
	err := c.write(ctx, func(tx Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO reg_cases (org, team, owner, status, sex, age_band, district, province, personal, extra, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`, k.Org, k.Team, k.Owner, k.Status, k.Sex, k.AgeBand, k.District, k.Province,
			k.Sealed, encodeExtra(k.Extra), c.f.Time(now), c.f.Time(now)).Scan(&k.ID); err != nil {
			return fmt.Errorf("create case: %w", err)
		}
		if seal != nil {
			sealed, err := seal(k.ID)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE reg_cases SET personal = ? WHERE id = ?`, sealed, k.ID); err != nil {
				return fmt.Errorf("create case: %w", err)
			}
			k.Sealed = sealed
		}
		e.Target = fmt.Sprintf("case:%d", k.ID)
		_, err := c.AppendTx(ctx, tx, e)
		return err
	})
	return k, err
}

// ViewCase implements registry.Store.
func (c *Core) ViewCase(ctx context.Context, id int64, f registry.Filter, e audit.Entry) (registry.Case, error) {
	var k registry.Case
	err := c.write(ctx, func(tx Tx) error {
		where, args := regWhere(f, false)
		var err error
		k, err = scanCase(tx.QueryRow(ctx, `SELECT `+caseCols+` FROM reg_cases`+andWhere(where, `id = ?`), append(args, id)...))
		if isNoRows(err) {
			return fmt.Errorf("case %d: %w", id, registry.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("view case %d: %w", id, err)
		}
		e.Target = fmt.Sprintf("case:%d", id)
		_, err = c.AppendTx(ctx, tx, e)
		return err
	})
	return k, err
}

// ListCases implements registry.Store.
func (c *Core) ListCases(ctx context.Context, f registry.Filter, after int64, limit int, e audit.Entry) ([]registry.Case, error) {
	var out []registry.Case
	err := c.write(ctx, func(tx Tx) error {
		where, args := regWhere(f, false)
		var err error
		out, err = queryAll(ctx, tx, scanCase, `SELECT `+caseCols+` FROM reg_cases`+andWhere(where, `id > ?`)+
			fmt.Sprintf(` ORDER BY id LIMIT %d`, limit), append(args, after)...)
		if err != nil {
			return fmt.Errorf("list cases: %w", err)
		}
		ids := make([]int64, len(out))
		for i, k := range out {
			ids[i] = k.ID
		}
		e.Detail, _ = json.Marshal(map[string]any{"cases": ids})
		_, err = c.AppendTx(ctx, tx, e)
		return err
	})
	return out, err
}

// SetCaseStatus implements registry.Store.
func (c *Core) SetCaseStatus(ctx context.Context, id int64, status string, e audit.Entry) error {
	return c.write(ctx, func(tx Tx) error {
		n, err := tx.Exec(ctx, `UPDATE reg_cases SET status = ?, updated_at = ? WHERE id = ?`, status, c.f.Time(Now()), id)
		if err != nil {
			return fmt.Errorf("set case status: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("case %d: %w", id, registry.ErrNotFound)
		}
		_, err = c.AppendTx(ctx, tx, e)
		return err
	})
}

const incidentCols = `id, uid, case_id, org, team, owner, reported_day, category, sex, age_band, relationship, place, district, province,
	area, police_status, stage, outcome, fir, fir_day, charge_sheet_day, trial_day, verdict_day, sections, acquittal_reason, source, extra, created_at`

func scanIncident(row Row) (registry.Incident, error) {
	var in registry.Incident
	var caseID *int64
	var extra string
	err := row.Scan(&in.ID, &in.UID, &caseID, &in.Org, &in.Team, &in.Owner, &in.Reported, &in.Category, &in.Sex, &in.AgeBand,
		&in.Relationship, &in.Place, &in.District, &in.Province, &in.Area, &in.PoliceStatus, &in.Stage, &in.Outcome,
		&in.SealedFIR, &in.FIRDate, &in.ChargeSheetDate, &in.TrialDate, &in.VerdictDate, &in.Sections,
		&in.AcquittalReason, &in.Source, &extra, scanTime(&in.CreatedAt))
	if caseID != nil {
		in.CaseID = *caseID
	}
	if err == nil {
		err = decodeExtra(extra, &in.Extra)
	}
	return in, err
}

// incidentInsertCols are the columns InsertIncidents writes, in order.
const incidentInsertCols = `uid, case_id, org, team, owner, reported_day, year, month, category, sex, age_band, relationship, place,
	district, province, area, police_status, stage, outcome, fir, fir_day, charge_sheet_day, trial_day, verdict_day,
	sections, acquittal_reason, source, extra, created_at`

const incidentInsertN = 29

// InsertIncidents implements registry.Store: multi-row INSERTs of up to
// 500 incidents in one transaction.
func (c *Core) InsertIncidents(ctx context.Context, in []registry.Incident, e audit.Entry) (int, error) {
	const batch = 500
	now := c.f.Time(Now())
	row := `(` + Placeholders(incidentInsertN) + `)`
	err := c.write(ctx, func(tx Tx) error {
		args := make([]any, 0, batch*incidentInsertN)
		for start := 0; start < len(in); start += batch {
			part := in[start:min(start+batch, len(in))]
			args = args[:0]
			for _, x := range part {
				var caseID any
				if x.CaseID > 0 {
					caseID = x.CaseID
				}
				year, month := 0, 0
				if x.Reported != 0 {
					t := x.Reported.Time()
					year, month = t.Year(), int(t.Month())
				}
				args = append(args, x.UID, caseID, x.Org, x.Team, x.Owner, int32(x.Reported), year, month, x.Category, x.Sex, x.AgeBand,
					x.Relationship, x.Place, x.District, x.Province, x.Area, x.PoliceStatus, x.Stage, x.Outcome, x.SealedFIR,
					int32(x.FIRDate), int32(x.ChargeSheetDate), int32(x.TrialDate), int32(x.VerdictDate), x.Sections,
					x.AcquittalReason, x.Source, encodeExtra(x.Extra), now)
			}
			q := `INSERT INTO reg_incidents (` + incidentInsertCols + `) VALUES ` +
				strings.TrimSuffix(strings.Repeat(row+`, `, len(part)), `, `)
			if _, err := tx.Exec(ctx, q, args...); err != nil {
				return fmt.Errorf("insert incidents %d–%d: %w", start+1, start+len(part), err)
			}
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if err := c.addCounts(ctx, tx, in, 1); err != nil {
			return err
		}
		_, err := c.AppendTx(ctx, tx, e)
		return err
	})
	if err != nil {
		return 0, err
	}
	return len(in), nil
}

// regPairCols are the coded incident columns reg_counts pairs, in the
// order of the pair number (16 × i + j for columns i < j). Append only.
var regPairCols = []string{"month", "district", "province", "category", "sex", "age_band", "relationship",
	"place", "area", "police_status", "stage", "outcome", "year"}

func pairValues(x *registry.Incident, year, month int) [13]int {
	return [13]int{month, x.District, x.Province, x.Category, x.Sex, x.AgeBand, x.Relationship, x.Place,
		x.Area, x.PoliceStatus, x.Stage, x.Outcome, year}
}

type countKey struct {
	org, team, owner           string
	year, province, pair, a, b int
}

// addCounts adds the incidents (sign 1) to reg_counts or takes them out
// (sign -1): every pair of coded columns, summed in memory, then upserted
// in multi-row statements.
func (c *Core) addCounts(ctx context.Context, tx Tx, in []registry.Incident, sign int64) error {
	sums := map[countKey]int64{}
	for i := range in {
		x := &in[i]
		year, month := 0, 0
		if x.Reported != 0 {
			t := x.Reported.Time()
			year, month = t.Year(), int(t.Month())
		}
		v := pairValues(x, year, month)
		k := countKey{org: x.Org, team: x.Team, owner: x.Owner, year: year, province: x.Province}
		for a := 0; a < len(v); a++ {
			for b := a + 1; b < len(v); b++ {
				k.pair, k.a, k.b = 16*a+b, v[a], v[b]
				sums[k] += sign
			}
		}
	}
	const batch = 1000
	args := make([]any, 0, batch*9)
	flush := func(n int) error {
		if n == 0 {
			return nil
		}
		q := `INSERT INTO reg_counts (org, team, owner, year, province, pair, a, b, n) VALUES ` +
			strings.TrimSuffix(strings.Repeat(`(?, ?, ?, ?, ?, ?, ?, ?, ?), `, n), `, `) +
			` ON CONFLICT (org, pair, year, province, team, owner, a, b) DO UPDATE SET n = reg_counts.n + excluded.n`
		_, err := tx.Exec(ctx, q, args...)
		args = args[:0]
		if err != nil {
			return fmt.Errorf("add incident counts: %w", err)
		}
		return nil
	}
	n := 0
	for k, v := range sums {
		args = append(args, k.org, k.team, k.owner, k.year, k.province, k.pair, k.a, k.b, v)
		if n++; n == batch {
			if err := flush(n); err != nil {
				return err
			}
			n = 0
		}
	}
	return flush(n)
}

// UpdateIncident implements registry.Store.
func (c *Core) UpdateIncident(ctx context.Context, x registry.Incident, f registry.Filter, seal func(uid string) (string, error), e audit.Entry) (registry.Incident, error) {
	err := c.write(ctx, func(tx Tx) error {
		where, args := regWhere(f, true)
		old, err := scanIncident(tx.QueryRow(ctx, `SELECT `+incidentCols+` FROM reg_incidents`+andWhere(where, `id = ?`)+c.f.ForUpdate,
			append(args, x.ID)...))
		if isNoRows(err) {
			return fmt.Errorf("incident %d: %w", x.ID, registry.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("update incident %d: %w", x.ID, err)
		}
		x.UID, x.Org, x.Team, x.Owner, x.CreatedAt = old.UID, old.Org, old.Team, old.Owner, old.CreatedAt
		x.SealedFIR = old.SealedFIR
		if seal != nil {
			if x.SealedFIR, err = seal(x.UID); err != nil {
				return err
			}
		}
		var caseID any
		if x.CaseID > 0 {
			caseID = x.CaseID
		}
		t := x.Reported.Time()
		if _, err := tx.Exec(ctx, `UPDATE reg_incidents SET case_id = ?, reported_day = ?, year = ?, month = ?, category = ?, sex = ?,
			age_band = ?, relationship = ?, place = ?, district = ?, province = ?, area = ?, police_status = ?, stage = ?, outcome = ?,
			fir = ?, fir_day = ?, charge_sheet_day = ?, trial_day = ?, verdict_day = ?, sections = ?, acquittal_reason = ?,
			source = ?, extra = ? WHERE id = ?`, caseID, int32(x.Reported), t.Year(), int(t.Month()), x.Category, x.Sex, x.AgeBand,
			x.Relationship, x.Place, x.District, x.Province, x.Area, x.PoliceStatus, x.Stage, x.Outcome, x.SealedFIR,
			int32(x.FIRDate), int32(x.ChargeSheetDate), int32(x.TrialDate), int32(x.VerdictDate), x.Sections, x.AcquittalReason,
			x.Source, encodeExtra(x.Extra), x.ID); err != nil {
			return fmt.Errorf("update incident %d: %w", x.ID, err)
		}
		if err := c.addCounts(ctx, tx, []registry.Incident{old}, -1); err != nil {
			return err
		}
		if err := c.addCounts(ctx, tx, []registry.Incident{x}, 1); err != nil {
			return err
		}
		e.Target = fmt.Sprintf("incident:%d", x.ID)
		_, err = c.AppendTx(ctx, tx, e)
		return err
	})
	return x, err
}

// ViewIncident implements registry.Store.
func (c *Core) ViewIncident(ctx context.Context, id int64, f registry.Filter, e audit.Entry) (registry.Incident, error) {
	var in registry.Incident
	err := c.write(ctx, func(tx Tx) error {
		where, args := regWhere(f, true)
		var err error
		in, err = scanIncident(tx.QueryRow(ctx, `SELECT `+incidentCols+` FROM reg_incidents`+andWhere(where, `id = ?`), append(args, id)...))
		if isNoRows(err) {
			return fmt.Errorf("incident %d: %w", id, registry.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("view incident %d: %w", id, err)
		}
		e.Target = fmt.Sprintf("incident:%d", id)
		_, err = c.AppendTx(ctx, tx, e)
		return err
	})
	return in, err
}

// ListIncidents implements registry.Store.
func (c *Core) ListIncidents(ctx context.Context, f registry.Filter, after int64, limit int, e audit.Entry) ([]registry.Incident, error) {
	var out []registry.Incident
	err := c.write(ctx, func(tx Tx) error {
		where, args := regWhere(f, true)
		var err error
		out, err = queryAll(ctx, tx, scanIncident, `SELECT `+incidentCols+` FROM reg_incidents`+andWhere(where, `id > ?`)+
			fmt.Sprintf(` ORDER BY id LIMIT %d`, limit), append(args, after)...)
		if err != nil {
			return fmt.Errorf("list incidents: %w", err)
		}
		ids := make([]int64, len(out))
		for i, x := range out {
			ids[i] = x.ID
		}
		e.Detail, _ = json.Marshal(map[string]any{"incidents": ids})
		_, err = c.AppendTx(ctx, tx, e)
		return err
	})
	return out, err
}

// ScanIncidents implements registry.Store.
func (c *Core) ScanIncidents(ctx context.Context, f registry.Filter, e audit.Entry, fn func(registry.Incident) error) error {
	if _, err := c.AppendAudit(ctx, e); err != nil {
		return err
	}
	where, args := regWhere(f, true)
	rows, err := c.eng.Reader().Query(ctx, `SELECT `+incidentCols+` FROM reg_incidents`+where+` ORDER BY id`, args...)
	if err != nil {
		return fmt.Errorf("export incidents: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		in, err := scanIncident(rows)
		if err != nil {
			return fmt.Errorf("export incidents: %w", err)
		}
		if err := fn(in); err != nil {
			return err
		}
	}
	return rows.Err()
}

// regColumns are the incident columns statistics may group by.
var regColumns = map[string]bool{"year": true, "month": true, "district": true, "province": true, "category": true,
	"sex": true, "age_band": true, "relationship": true, "place": true, "area": true, "police_status": true,
	"stage": true, "outcome": true}

// CountIncidents implements registry.Store.
func (c *Core) CountIncidents(ctx context.Context, f registry.Filter, colA, colB string) ([]registry.Count, error) {
	if !regColumns[colA] || !regColumns[colB] {
		return nil, fmt.Errorf("%w: cannot group by %q and %q", registry.ErrInvalid, colA, colB)
	}
	scan := func(row Row) (registry.Count, error) {
		var k registry.Count
		err := row.Scan(&k.A, &k.B, &k.N)
		return k, err
	}
	if f.District == 0 && f.Category == 0 {
		// From the kept counts: at most |a| × |b| rows per year, province
		// and owner.
		ia, ib := slices.Index(regPairCols, colA), slices.Index(regPairCols, colB)
		swap := ia > ib
		if swap {
			ia, ib = ib, ia
		}
		where, args := regWhere(f, true)
		out, err := queryAll(ctx, c.eng.Reader(), scan, `SELECT a, b, SUM(n) FROM reg_counts`+andWhere(where, `pair = ?`)+
			` GROUP BY a, b HAVING SUM(n) <> 0`, append(args, 16*ia+ib)...)
		if swap {
			for i := range out {
				out[i].A, out[i].B = out[i].B, out[i].A
			}
		}
		return out, err
	}
	where, args := regWhere(f, true)
	return queryAll(ctx, c.eng.Reader(), scan, `SELECT `+colA+`, `+colB+`, COUNT(*) FROM reg_incidents`+where+
		` GROUP BY `+colA+`, `+colB, args...)
}

// Funnel implements registry.Store.
func (c *Core) Funnel(ctx context.Context, f registry.Filter) (registry.FunnelCounts, error) {
	where, args := regWhere(f, true)
	var k registry.FunnelCounts
	rows, err := c.eng.Reader().Query(ctx, `SELECT CASE WHEN verdict_day <> 0 AND outcome = ? THEN 5 WHEN verdict_day <> 0 THEN 4
		WHEN trial_day <> 0 THEN 3 WHEN charge_sheet_day <> 0 THEN 2 WHEN fir_day <> 0 THEN 1 ELSE 0 END AS step, COUNT(*)
		FROM reg_incidents`+where+` GROUP BY step`, append([]any{registry.OutcomeConviction}, args...)...)
	if err != nil {
		return k, fmt.Errorf("justice funnel: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var step int
		var n int64
		if err := rows.Scan(&step, &n); err != nil {
			return k, fmt.Errorf("justice funnel: %w", err)
		}
		k.Furthest[step] = n
	}
	if err := rows.Err(); err != nil {
		return k, fmt.Errorf("justice funnel: %w", err)
	}
	step := func(a, b string) string {
		return fmt.Sprintf(`COALESCE(SUM(CASE WHEN %[1]s <> 0 AND %[2]s <> 0 THEN %[2]s - %[1]s ELSE 0 END), 0),
			COALESCE(SUM(CASE WHEN %[1]s <> 0 AND %[2]s <> 0 THEN 1 ELSE 0 END), 0)`, a, b)
	}
	err = c.eng.Reader().QueryRow(ctx, `SELECT `+step("reported_day", "fir_day")+`, `+step("fir_day", "charge_sheet_day")+`, `+
		step("charge_sheet_day", "trial_day")+`, `+step("trial_day", "verdict_day")+` FROM reg_incidents`+where, args...).Scan(
		&k.Days[0], &k.Pairs[0], &k.Days[1], &k.Pairs[1], &k.Days[2], &k.Pairs[2], &k.Days[3], &k.Pairs[3])
	if err != nil {
		return k, fmt.Errorf("justice funnel: %w", err)
	}
	return k, nil
}

const referralCols = `id, case_id, from_org, to_org, state, reason, by_who, created_at, updated_at`

func scanReferral(row Row) (registry.Referral, error) {
	var r registry.Referral
	err := row.Scan(&r.ID, &r.CaseID, &r.FromOrg, &r.ToOrg, &r.State, &r.Reason, &r.By, scanTime(&r.CreatedAt), scanTime(&r.UpdatedAt))
	return r, err
}

// CreateReferral implements registry.Store.
func (c *Core) CreateReferral(ctx context.Context, r registry.Referral, e audit.Entry) (registry.Referral, error) {
	now := Now()
	r.CreatedAt, r.UpdatedAt, r.State = now, now, registry.ReferralRequested
	err := c.write(ctx, func(tx Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO reg_referrals (case_id, from_org, to_org, state, reason, by_who, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`, r.CaseID, r.FromOrg, r.ToOrg, r.State, r.Reason, r.By,
			c.f.Time(now), c.f.Time(now)).Scan(&r.ID); err != nil {
			return fmt.Errorf("create referral: %w", err)
		}
		e.Target = fmt.Sprintf("referral:%d", r.ID)
		_, err := c.AppendTx(ctx, tx, e)
		return err
	})
	return r, err
}

// GetReferral implements registry.Store.
func (c *Core) GetReferral(ctx context.Context, id int64) (registry.Referral, error) {
	r, err := scanReferral(c.eng.Reader().QueryRow(ctx, `SELECT `+referralCols+` FROM reg_referrals WHERE id = ?`, id))
	if isNoRows(err) {
		return r, fmt.Errorf("referral %d: %w", id, registry.ErrNotFound)
	}
	return r, err
}

// MoveReferral implements registry.Store.
func (c *Core) MoveReferral(ctx context.Context, id int64, from, to string, e audit.Entry) error {
	return c.write(ctx, func(tx Tx) error {
		n, err := tx.Exec(ctx, `UPDATE reg_referrals SET state = ?, updated_at = ? WHERE id = ? AND state = ?`, to, c.f.Time(Now()), id, from)
		if err != nil {
			return fmt.Errorf("move referral: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("referral %d is no longer %s: %w", id, from, registry.ErrConflict)
		}
		_, err = c.AppendTx(ctx, tx, e)
		return err
	})
}

// ListReferrals implements registry.Store.
func (c *Core) ListReferrals(ctx context.Context, caseID int64) ([]registry.Referral, error) {
	return queryAll(ctx, c.eng.Reader(), scanReferral, `SELECT `+referralCols+` FROM reg_referrals WHERE case_id = ? ORDER BY id`, caseID)
}

// AddNote implements registry.Store.
func (c *Core) AddNote(ctx context.Context, n registry.Note, seal func(id int64) (string, error), e audit.Entry) (registry.Note, error) {
	n.At = Now()
	err := c.write(ctx, func(tx Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO reg_notes (case_id, author, at, body, ref) VALUES (?, ?, ?, '', ?) RETURNING id`,
			n.CaseID, n.Author, c.f.Time(n.At), n.Ref).Scan(&n.ID); err != nil {
			return fmt.Errorf("add note: %w", err)
		}
		sealed, err := seal(n.ID)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE reg_notes SET body = ? WHERE id = ?`, sealed, n.ID); err != nil {
			return fmt.Errorf("add note: %w", err)
		}
		n.Sealed = sealed
		_, err = c.AppendTx(ctx, tx, e)
		return err
	})
	return n, err
}

// ListNotes implements registry.Store.
func (c *Core) ListNotes(ctx context.Context, caseID int64, e audit.Entry) ([]registry.Note, error) {
	var out []registry.Note
	err := c.write(ctx, func(tx Tx) error {
		var err error
		out, err = queryAll(ctx, tx, func(row Row) (registry.Note, error) {
			var n registry.Note
			err := row.Scan(&n.ID, &n.CaseID, &n.Author, scanTime(&n.At), &n.Sealed, &n.Ref)
			return n, err
		}, `SELECT id, case_id, author, at, body, ref FROM reg_notes WHERE case_id = ? ORDER BY id`, caseID)
		if err != nil {
			return fmt.Errorf("list notes: %w", err)
		}
		_, err = c.AppendTx(ctx, tx, e)
		return err
	})
	return out, err
}

const approvalCols = `id, case_id, requested_by, requested_at, reason, state, decided_by, decided_at`

func scanApproval(row Row) (registry.Approval, error) {
	var a registry.Approval
	err := row.Scan(&a.ID, &a.CaseID, &a.RequestedBy, scanTime(&a.RequestedAt), &a.Reason, &a.State, &a.DecidedBy, scanNullTime(&a.DecidedAt))
	return a, err
}

// RequestClosure implements registry.Store.
func (c *Core) RequestClosure(ctx context.Context, a registry.Approval, e audit.Entry) (registry.Approval, error) {
	a.RequestedAt, a.State = Now(), "pending"
	err := c.write(ctx, func(tx Tx) error {
		n, err := tx.Exec(ctx, `UPDATE reg_cases SET status = 'closure_requested', updated_at = ? WHERE id = ? AND status = 'open'`,
			c.f.Time(a.RequestedAt), a.CaseID)
		if err != nil {
			return fmt.Errorf("request closure: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("case %d is not open: %w", a.CaseID, registry.ErrConflict)
		}
		if err := tx.QueryRow(ctx, `INSERT INTO reg_approvals (case_id, requested_by, requested_at, reason, state)
			VALUES (?, ?, ?, ?, ?) RETURNING id`, a.CaseID, a.RequestedBy, c.f.Time(a.RequestedAt), a.Reason, a.State).Scan(&a.ID); err != nil {
			return fmt.Errorf("request closure: %w", err)
		}
		_, err = c.AppendTx(ctx, tx, e)
		return err
	})
	return a, err
}

// DecideClosure implements registry.Store.
func (c *Core) DecideClosure(ctx context.Context, id int64, approve bool, by string, e audit.Entry) (registry.Approval, error) {
	var a registry.Approval
	err := c.write(ctx, func(tx Tx) error {
		var err error
		a, err = scanApproval(tx.QueryRow(ctx, `SELECT `+approvalCols+` FROM reg_approvals WHERE id = ?`+c.f.ForUpdate, id))
		if isNoRows(err) {
			return fmt.Errorf("approval %d: %w", id, registry.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("decide closure: %w", err)
		}
		if a.State != "pending" {
			return fmt.Errorf("approval %d is %s: %w", id, a.State, registry.ErrConflict)
		}
		if a.RequestedBy == by {
			return fmt.Errorf("closure of case %d must be approved by someone other than %s: %w", a.CaseID, by, registry.ErrConflict)
		}
		now := Now()
		a.State, a.DecidedBy, a.DecidedAt = "rejected", by, &now
		status := "open"
		if approve {
			a.State, status = "approved", "closed"
		}
		if _, err := tx.Exec(ctx, `UPDATE reg_approvals SET state = ?, decided_by = ?, decided_at = ? WHERE id = ?`,
			a.State, by, c.f.Time(now), id); err != nil {
			return fmt.Errorf("decide closure: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE reg_cases SET status = ?, updated_at = ? WHERE id = ?`, status, c.f.Time(now), a.CaseID); err != nil {
			return fmt.Errorf("decide closure: %w", err)
		}
		_, err = c.AppendTx(ctx, tx, e)
		return err
	})
	return a, err
}

// GetApproval implements registry.Store.
func (c *Core) GetApproval(ctx context.Context, id int64) (registry.Approval, error) {
	a, err := scanApproval(c.eng.Reader().QueryRow(ctx, `SELECT `+approvalCols+` FROM reg_approvals WHERE id = ?`, id))
	if isNoRows(err) {
		return a, fmt.Errorf("approval %d: %w", id, registry.ErrNotFound)
	}
	return a, err
}
