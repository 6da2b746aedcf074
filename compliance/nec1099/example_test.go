package nec1099_test

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/rampart-sdk/rampart/compliance/nec1099"
)

// plainTIN stands in for *keyring.Field in the example: the "ciphertext"
// is the TIN itself.
type plainTIN struct{}

func (plainTIN) Open(_ string, ct []byte) ([]byte, error) { return append([]byte(nil), ct...), nil }

// A payee paid $2,100 in 2026 is over the $2,000 threshold and is filed;
// after a $600 payment is reversed, the next generation files a corrected
// record with a zero amount that references the original.
func Example() {
	ctx := context.Background()
	paid := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	payments := []nec1099.Payment{
		{ID: "1", PayeeID: "p1", AmountCents: 1500_00, PaidAt: paid},
		{ID: "2", PayeeID: "p1", AmountCents: 600_00, PaidAt: paid},
	}
	now := time.Date(2027, 1, 20, 0, 0, 0, 0, time.UTC)
	f, err := nec1099.New(nec1099.NewMemoryStore(),
		func(_ context.Context, _ string, _ int, yield func(nec1099.Payment) error) error {
			for _, p := range payments {
				if err := yield(p); err != nil {
					return err
				}
			}
			return nil
		},
		func(_ context.Context, _, id string) (nec1099.Payee, error) {
			return nec1099.Payee{ID: id, Name: "Ada", TaxIDCiphertext: []byte("123-45-6789"), TaxIDRowID: id}, nil
		},
		plainTIN{},
		nec1099.WithClock(func() time.Time { now = now.Add(time.Hour); return now }))
	if err != nil {
		panic(err)
	}
	res, err := f.Generate(ctx, "org1", 2026, io.Discard)
	if err != nil {
		panic(err)
	}
	fmt.Println(len(res.Records), res.Records[0].AmountCents, res.Generation.ThresholdCents)
	payments[1].Reversed = true
	res, err = f.Generate(ctx, "org1", 2026, io.Discard)
	if err != nil {
		panic(err)
	}
	fmt.Println(res.Records[0].Corrected, res.Records[0].AmountCents)
	// Output:
	// 1 210000 200000
	// true 0
}
