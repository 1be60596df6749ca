package workspace

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
)

// secretBox seals secret values with AES-256-GCM under a key derived from
// ZENML_SECRETS_STORE_ENCRYPTION_KEY by HKDF-SHA256. Each sealing uses a fresh
// random nonce, and the secret's id is bound in as additional data so that a
// sealed value copied onto another secret's row does not open.
type secretBox struct {
	aead cipher.AEAD
}

const sealedPrefix = "v1:"

func newSecretBox(key string) (*secretBox, error) {
	if key == "" {
		return nil, errors.New("no encryption key")
	}
	k, err := hkdf.Key(sha256.New, []byte(key), nil, "enclave workspace secrets v1", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &secretBox{aead: aead}, nil
}

// seal encrypts the values of secret id.
func (b *secretBox) seal(id string, values map[string]string) (string, error) {
	plain, err := json.Marshal(values)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, b.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out := b.aead.Seal(nonce, nonce, plain, []byte(id))
	return sealedPrefix + base64.StdEncoding.EncodeToString(out), nil
}

// open decrypts what seal made for secret id.
func (b *secretBox) open(id, sealed string) (map[string]string, error) {
	rest, ok := strings.CutPrefix(sealed, sealedPrefix)
	if !ok {
		return nil, errors.New("secret values are not in a known sealed format")
	}
	raw, err := base64.StdEncoding.DecodeString(rest)
	if err != nil || len(raw) < b.aead.NonceSize() {
		return nil, errors.New("secret values are corrupt")
	}
	n := b.aead.NonceSize()
	plain, err := b.aead.Open(nil, raw[:n], raw[n:], []byte(id))
	if err != nil {
		return nil, errors.New("secret values do not open with the configured encryption key")
	}
	var values map[string]string
	if err := json.Unmarshal(plain, &values); err != nil {
		return nil, err
	}
	return values, nil
}
