package compliance

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// ProcessingActivity is one processing activity in the records of processing
// (GDPR Art. 30(1)): what is processed, why, on which legal basis, shared with
// whom, kept how long and sent where.
type ProcessingActivity struct {
	Name           string   `json:"name"`
	Purpose        string   `json:"purpose"`
	LegalBasis     string   `json:"legal_basis"`
	DataSubjects   []string `json:"data_subjects,omitempty"`
	DataCategories []string `json:"data_categories"`
	Recipients     []string `json:"recipients,omitempty"`
	Retention      string   `json:"retention"`
	// Transfers lists transfers outside the EEA with their safeguard
	// ("US: SCCs 2021/914").
	Transfers []string `json:"transfers,omitempty"`
	// Security describes the technical and organisational measures.
	Security string `json:"security,omitempty"`
}

// ProcessingRecords is the register of processing activities of a
// controller, the document the GDPR catalog's control "gdpr-art-30" asks for:
// a host fills SlotRecordsOfProcessing with a check over it.
type ProcessingRecords struct {
	Controller string               `json:"controller"`
	Contact    string               `json:"contact,omitempty"`
	Activities []ProcessingActivity `json:"activities"`
}

// Add appends an activity after checking the fields Art. 30 requires.
func (r *ProcessingRecords) Add(a ProcessingActivity) error {
	if a.Name == "" || a.Purpose == "" || a.LegalBasis == "" || len(a.DataCategories) == 0 || a.Retention == "" {
		return fmt.Errorf("%w: activity %q needs a name, purpose, legal basis, data categories and retention", ErrInvalidActivity, a.Name)
	}
	for _, o := range r.Activities {
		if o.Name == a.Name {
			return fmt.Errorf("%w: activity %q added twice", ErrInvalidActivity, a.Name)
		}
	}
	r.Activities = append(r.Activities, a)
	return nil
}

// WriteJSON writes the register as indented JSON.
func (r *ProcessingRecords) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteMarkdown writes the register as a Markdown document, one table row per
// activity, for the compliance matrix and auditors.
func (r *ProcessingRecords) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Records of processing activities\n\nController: %s\n", mdCell(r.Controller))
	if r.Contact != "" {
		fmt.Fprintf(&b, "Contact: %s\n", mdCell(r.Contact))
	}
	b.WriteString("\n| Activity | Purpose | Legal basis | Data subjects | Data categories | Recipients | Retention | Transfers | Security |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|\n")
	for _, a := range r.Activities {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			mdCell(a.Name), mdCell(a.Purpose), mdCell(a.LegalBasis), mdList(a.DataSubjects), mdList(a.DataCategories),
			mdList(a.Recipients), mdCell(a.Retention), mdList(a.Transfers), mdCell(a.Security))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func mdList(xs []string) string {
	if len(xs) == 0 {
		return "none"
	}
	cs := make([]string, len(xs))
	for i, x := range xs {
		cs[i] = mdCell(x)
	}
	return strings.Join(cs, ", ")
}

// mdCell escapes what would break a table cell or inject markup, and marks
// an empty cell.
func mdCell(s string) string {
	if s == "" {
		return "-"
	}
	return mdEscape(s)
}
