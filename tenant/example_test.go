package tenant_test

import (
	"context"
	"fmt"

	"github.com/rampart-sdk/rampart/tenant"
)

// A router binds the organisation it authorised; code below reads it from the
// context, never from the URL.
func Example() {
	ctx := tenant.With(context.Background(), "org-acme")
	org, err := tenant.Require(ctx)
	fmt.Println(org, err)

	_, err = tenant.Require(context.Background())
	fmt.Println(err)
	// Output:
	// org-acme <nil>
	// tenant: no organisation in the context
}
