-- DKIM signing keys of our domains (RFC 6376): the private key as base64 of its DER
-- (PKCS#1 for RSA, PKCS#8 for Ed25519), the public key as the DNS record's p= value.
-- Active keys sign new mail; a retired one stays listed until removed, so that its DNS
-- record can stay published while signed mail is still in flight.
CREATE TABLE dkim_keys (
    domain       TEXT NOT NULL REFERENCES domains(name) ON DELETE CASCADE,
    selector     TEXT NOT NULL,
    algorithm    TEXT NOT NULL,
    private_key  TEXT NOT NULL,
    public_key   TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    active       INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (domain, selector)
);
