package compliance_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/compliance"
)

func TestRecordsOfProcessing(t *testing.T) {
	t.Parallel()
	r := &compliance.ProcessingRecords{Controller: "Example SAS", Contact: "dpo@example.com"}
	require.NoError(t, r.Add(compliance.ProcessingActivity{
		Name: "Billing", Purpose: "invoice customers", LegalBasis: "Art. 6(1)(c) legal obligation",
		DataSubjects: []string{"customers"}, DataCategories: []string{"name", "address", "VAT number"},
		Recipients: []string{"accountant"}, Retention: "7 years after the fiscal year",
		Transfers: []string{"US: SCCs 2021/914"}, Security: "per-column AES-256-GCM",
	}))
	require.NoError(t, r.Add(compliance.ProcessingActivity{
		Name: "Analytics | web", Purpose: "product\nusage", LegalBasis: "Art. 6(1)(a) consent",
		DataCategories: []string{"pseudonymous visitor ID"}, Retention: "13 months",
	}))
	require.ErrorIs(t, r.Add(compliance.ProcessingActivity{Name: "Billing", Purpose: "x", LegalBasis: "y", DataCategories: []string{"z"}, Retention: "1y"}), compliance.ErrInvalidActivity)
	require.ErrorIs(t, r.Add(compliance.ProcessingActivity{Name: "No basis", Purpose: "x", DataCategories: []string{"z"}, Retention: "1y"}), compliance.ErrInvalidActivity)

	var md bytes.Buffer
	require.NoError(t, r.WriteMarkdown(&md))
	lines := strings.Split(strings.TrimSpace(md.String()), "\n")
	require.Contains(t, md.String(), "| Billing | invoice customers | Art. 6(1)(c) legal obligation | customers | name, address, VAT number | accountant | 7 years after the fiscal year | US: SCCs 2021/914 | per-column AES-256-GCM |")
	require.Contains(t, md.String(), `| Analytics \| web | product usage |`, "cells are escaped")
	require.Len(t, lines, 9, "title, blank, controller, contact, blank, header, separator and two rows")

	var js bytes.Buffer
	require.NoError(t, r.WriteJSON(&js))
	var back compliance.ProcessingRecords
	require.NoError(t, json.Unmarshal(js.Bytes(), &back))
	require.Equal(t, *r, back)
}
