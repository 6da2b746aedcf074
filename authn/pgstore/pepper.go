package pgstore

// APIKeyTable and APIKeyHashColumn name the column that holds API-key hashes:
// declare it as a blind-index column of the pepper's scope in the key
// registry so that the guardrail counts its hashes per pepper key.
const (
	APIKeyTable      = "authn_api_keys"
	APIKeyHashColumn = "hash"
)

// LiveAPIKeys is the SQL condition on APIKeyTable that holds for the API keys
// whose hash still needs its pepper key: hashed with HMAC under the pepper,
// not revoked and not expired. A revoked or expired key is refused whatever
// its hash, so the pepper key it was hashed under may be retired. Pass it to
// the guardrail's counter (keyring/pgstore.CountWhere(APIKeyTable,
// APIKeyHashColumn, LiveAPIKeys)). API-key secrets are never stored, so a
// pepper key stays needed until every live key hashed under it has expired
// or been reissued.
const LiveAPIKeys = `hash_alg = 'hmac-sha256' AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())`
