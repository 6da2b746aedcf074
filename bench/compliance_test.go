package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rampart-sdk/rampart/compliance"
	"github.com/rampart-sdk/rampart/compliance/nec1099"
)

func complianceMatrix(b *testing.B) *compliance.Matrix {
	b.Helper()
	m, err := compliance.NewMatrix(append(compliance.GDPRCatalog(), compliance.CCPACatalog()...))
	if err != nil {
		b.Fatal(err)
	}
	for slot := range m.Slots() {
		_ = m.Fill(slot, compliance.CheckErr(func(context.Context) error { return nil }))
	}
	return m
}

// BenchmarkComplianceReport measures evaluating the shipped GDPR+CCPA
// matrix (22 controls, 9 slots, trivial checks: the matrix's own overhead)
// and rendering it in each format.
func BenchmarkComplianceReport(b *testing.B) {
	ctx := context.Background()
	m := complianceMatrix(b)
	b.Run("evaluate", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = m.Evaluate(ctx)
		}
	})
	r := m.Evaluate(ctx)
	for _, f := range []struct {
		name  string
		write func(io.Writer) error
	}{
		{"markdown", r.WriteMarkdown},
		{"json", r.WriteJSON},
		{"oscal", func(w io.Writer) error { return r.WriteOSCAL(w, compliance.OSCALOptions{}) }},
	} {
		b.Run(f.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := f.write(io.Discard); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	var buf bytes.Buffer
	_ = r.WriteJSON(&buf)
	b.Run("read-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := compliance.ReadReport(bytes.NewReader(buf.Bytes())); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkDisclosure compares the FTC disclosure checker with the naive
// baseline (strings.Contains "#ad", which accepts buried and URL-embedded
// tags the checker rejects).
func BenchmarkDisclosure(b *testing.B) {
	post := "Paid partnership with Northwind Coffee. Honestly the best cold brew I've had this year. " +
		strings.Repeat("Tasting notes: chocolate, cherry, a little smoke. ", 10) + "https://northwind.example/cold-brew?ref=jo"
	b.Run("rampart", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(post)))
		for b.Loop() {
			_ = compliance.CheckDisclosure(post)
		}
	})
	b.Run("naive-contains", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(post)))
		for b.Loop() {
			_ = strings.Contains(strings.ToLower(post), "#ad")
		}
	})
}

type plainField struct{}

func (plainField) Open(_ string, ct []byte) ([]byte, error) { return ct, nil }

// BenchmarkFilingGeneration measures the 1099-NEC pipeline over
// RAMPART_BENCH_ROWS payments to rows/10 payees on the memory store.
func BenchmarkFilingGeneration(b *testing.B) {
	rows := benchRows(20000)
	payees := max(rows/10, 1)
	paid := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		f, err := nec1099.New(nec1099.NewMemoryStore(),
			func(_ context.Context, _ string, _ int, yield func(nec1099.Payment) error) error {
				for i := 0; i < rows; i++ {
					if err := yield(nec1099.Payment{ID: strconv.Itoa(i), PayeeID: fmt.Sprintf("p%d", i%payees), AmountCents: 300_00, PaidAt: paid}); err != nil {
						return err
					}
				}
				return nil
			},
			func(_ context.Context, _, id string) (nec1099.Payee, error) {
				return nec1099.Payee{ID: id, Name: "Payee " + id, TaxIDCiphertext: []byte("123-45-6789"), TaxIDRowID: id}, nil
			},
			plainField{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.Generate(context.Background(), "org", 2026, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "payments/s")
}
