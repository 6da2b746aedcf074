package privacy

// Jurisdictions exports jurisdictions to the external tests.
var Jurisdictions = jurisdictions
