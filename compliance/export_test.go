package compliance

// DisclosureTopWindow exports disclosureTopWindow to the external tests.
const DisclosureTopWindow = disclosureTopWindow

// DisclosureJudge exports disclosureJudge (the Judge of FTCDisclosureAudit)
// to the external tests.
var DisclosureJudge = disclosureJudge
