package compliance

// DisclosureTopWindow exports disclosureTopWindow to the external tests.
const DisclosureTopWindow = disclosureTopWindow
