package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/nigehban/nigehban/internal/registry"
	"github.com/nigehban/nigehban/internal/sealed"
)

func init() { rootCmd.AddCommand(newRegistryCommand()) }

func newRegistryCommand() *cobra.Command {
	var db, dataKey, as string
	cmd := &cobra.Command{
		Use:   "registry",
		Short: "Case registry: grants, import and export of incidents, statistics safe to publish",
		Long: `The case registry of child-protection organisations (also under /v1/cases,
/v1/incidents, /v1/stats and the console's Registry page). Who sees what is
a registry grant per principal ("user:NAME" for console users, "key:ID" for
API keys): a scope (own, team, org, all), an organisation, a reporting level
(district, province, national: the finest geography of their statistics)
and optionally a district or province they are limited to.`,
	}
	cmd.PersistentFlags().StringVar(&db, "db", "", dbFlagHelp)
	cmd.PersistentFlags().StringVar(&dataKey, "data-key", "", dataKeyHelp)
	withService := func(cmd *cobra.Command, fn func(*registry.Service) error) error {
		keys, err := sealed.FromEnv(dataKey)
		if err != nil {
			return err
		}
		st, err := openStore(cmd.Context(), db)
		if err != nil {
			return err
		}
		defer st.Close()
		return fn(registry.NewService(st, keys))
	}
	actor := func() registry.Caller { return registry.Caller{Principal: "cli:" + defaultActor()} }

	var a registry.Access
	var scope, level, district, province string
	grant := &cobra.Command{
		Use:   "grant PRINCIPAL --scope own|team|org|all --org ORG --level district|province|national",
		Short: "Set a principal's registry grant (logged)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a.Principal, a.Scope, a.Level = args[0], registry.Scope(scope), registry.Level(level)
			if district != "" {
				d, err := registry.LookupDistrict(district)
				if err != nil {
					return err
				}
				a.District = d.Code
			}
			p, err := registry.Provinces.Code(province)
			if err != nil {
				return err
			}
			a.Province = p
			return withService(cmd, func(svc *registry.Service) error {
				g, err := svc.Grant(cmd.Context(), actor(), a)
				if err != nil {
					return err
				}
				return json.NewEncoder(cmd.OutOrStdout()).Encode(g)
			})
		},
	}
	grant.Flags().StringVar(&scope, "scope", "org", "whose records: own, team, org or all")
	grant.Flags().StringVar(&a.Org, "org", "", "the principal's organisation")
	grant.Flags().StringVar(&a.Team, "team", "", "the principal's team (scope team)")
	grant.Flags().StringVar(&level, "level", "national", "finest geography of statistics: district, province or national")
	grant.Flags().StringVar(&district, "district", "", "limit to one district (name or code)")
	grant.Flags().StringVar(&province, "province", "", "limit to one province")
	grant.Flags().BoolVar(&a.Write, "write", false, "may add and change records")
	grant.MarkFlagRequired("org")

	grants := &cobra.Command{
		Use: "grants", Short: "List registry grants", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return withService(cmd, func(svc *registry.Service) error {
				gs, err := svc.Grants(cmd.Context())
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "PRINCIPAL\tSCOPE\tORG\tTEAM\tLEVEL\tDISTRICT\tPROVINCE\tWRITE")
				for _, g := range gs {
					d, p := "", ""
					if g.District > 0 {
						d = registry.DistrictName(g.District)
					}
					if g.Province > 0 {
						p = registry.Provinces.Title(g.Province)
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%v\n", g.Principal, g.Scope, g.Org, g.Team, g.Level, d, p, g.Write)
				}
				return tw.Flush()
			})
		},
	}

	importCmd := &cobra.Command{
		Use:   "import --as PRINCIPAL FILE.csv",
		Short: "Import an NGO monitoring sheet of incidents (all or nothing; bad rows listed with line and column)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			return withService(cmd, func(svc *registry.Service) error {
				res, err := svc.ImportCSV(cmd.Context(), registry.Caller{Principal: as}, f)
				if errors.Is(err, registry.ErrBadRows) {
					for _, e := range res.Errors {
						fmt.Fprintf(cmd.ErrOrStderr(), "%s:%d: %s: %s\n", args[0], e.Line, e.Column, e.Message)
					}
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "imported %d incidents\n", res.Imported)
				return nil
			})
		},
	}

	var year int
	export := &cobra.Command{
		Use: "export --as PRINCIPAL [--year Y]", Short: "Write the incidents a principal sees as CSV (logged)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return withService(cmd, func(svc *registry.Service) error {
				return svc.ExportCSV(cmd.Context(), registry.Caller{Principal: as}, year, nil, cmd.OutOrStdout())
			})
		},
	}
	export.Flags().IntVar(&year, "year", 0, "only incidents reported in this year")

	var req registry.TableRequest
	var format string
	stats := &cobra.Command{
		Use:   "stats --as PRINCIPAL --rows DIM --cols DIM",
		Short: "Publish a two-way table of incidents, protected by cell suppression and logged",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return withService(cmd, func(svc *registry.Service) error {
				p, err := svc.Table(cmd.Context(), registry.Caller{Principal: as}, req)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "logged as audit entry %d, sha256 %s\n", p.LogSeq, p.SHA256)
				if format == "json" {
					return json.NewEncoder(cmd.OutOrStdout()).Encode(p)
				}
				return p.Table.WriteCSV(cmd.OutOrStdout(), req.Rows+`\`+req.Cols)
			})
		},
	}
	stats.Flags().StringVar(&req.Rows, "rows", "category", "row dimension: year, month, district, province, category, sex, age_band, relationship, place, area, police_status, stage, outcome")
	stats.Flags().StringVar(&req.Cols, "cols", "sex", "column dimension (as --rows)")
	stats.Flags().IntVar(&req.Year, "year", 0, "only this year")
	stats.Flags().StringVar(&req.Category, "category", "", "only this crime category")
	stats.Flags().StringVar(&req.District, "district", "", "only this district")
	stats.Flags().StringVar(&req.Province, "province", "", "only this province")
	stats.Flags().Int64Var(&req.Threshold, "threshold", 0, "smallest published count (at least 5)")
	stats.Flags().StringVar(&format, "format", "csv", "csv or json")

	for _, c := range []*cobra.Command{importCmd, export, stats} {
		c.Flags().StringVar(&as, "as", "", `the principal whose grant applies ("user:NAME", "key:ID")`)
		c.MarkFlagRequired("as")
	}
	cmd.AddCommand(grant, grants, importCmd, export, stats)
	return cmd
}
