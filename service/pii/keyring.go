// Package pii protects residents' personal data: AES-256-GCM encryption
// with rotating keys, keyed hashes for exact-match search, validators for
// ID and phone numbers, and masking.
package pii

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// HashKeyID names the keyring entry used for the search hashes. It never
// rotates: rotating it would mean re-hashing every row.
const HashKeyID = "hash"

// ErrKeyring reports a malformed keyring or a value that can't be decrypted.
var ErrKeyring = errors.New("pii: bad keyring")

// Keyring holds the encryption keys by id, the current one first, and the
// hash key.
type Keyring struct {
	current string
	aeads   map[string]cipher.AEAD
	hashKey []byte
}

// ParseKeyring reads "hash:BASE64,k2:BASE64,k1:BASE64": each entry an id and
// a base64 32-byte key. The first entry that is not "hash" encrypts new
// values; the others still decrypt old ones.
func ParseKeyring(s string) (*Keyring, error) {
	kr := &Keyring{aeads: map[string]cipher.AEAD{}}
	for _, entry := range strings.Split(strings.TrimSpace(s), ",") {
		id, b64, ok := strings.Cut(strings.TrimSpace(entry), ":")
		if !ok || id == "" || strings.ContainsAny(id, ":,") {
			return nil, fmt.Errorf("%w: entries are id:base64key", ErrKeyring)
		}
		key, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(key) != 32 {
			return nil, fmt.Errorf("%w: key %q must be 32 bytes, base64", ErrKeyring, id)
		}
		if id == HashKeyID {
			kr.hashKey = key
			continue
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrKeyring, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrKeyring, err)
		}
		if _, dup := kr.aeads[id]; dup {
			return nil, fmt.Errorf("%w: key id %q twice", ErrKeyring, id)
		}
		kr.aeads[id] = aead
		if kr.current == "" {
			kr.current = id
		}
	}
	if kr.hashKey == nil || kr.current == "" {
		return nil, fmt.Errorf("%w: needs a %q key and at least one encryption key", ErrKeyring, HashKeyID)
	}
	return kr, nil
}

// NewKeyringString makes a fresh keyring with a hash key and one encryption
// key, in ParseKeyring's format.
func NewKeyringString() string {
	return HashKeyID + ":" + randomKey() + ",k1:" + randomKey()
}

func randomKey() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return base64.StdEncoding.EncodeToString(b)
}

// LoadOrCreateKeyFile reads the keyring from path, creating it with fresh
// keys (mode 0600) on first start. This is the embedded mode's key store.
func LoadOrCreateKeyFile(path string) (*Keyring, error) {
	s, err := LoadOrCreateSecretFile(path, NewKeyringString)
	if err != nil {
		return nil, err
	}
	return ParseKeyring(s)
}

// LoadOrCreateSecretFile reads a secret from path, or on first start
// writes fresh() there (mode 0600, never over an existing file; a missing
// directory is made 0700) and returns it: the embedded mode's keyring and
// token-signing key.
func LoadOrCreateSecretFile(path string, fresh func() string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		// A key file left readable by others (an older version, a copy)
		// is made the owner's alone again.
		if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(path, 0o600); err != nil {
				return "", fmt.Errorf("pii: key file: %w", err)
			}
		}
		return strings.TrimSpace(string(b)), nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("pii: key file: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("pii: key file: %w", err)
	}
	s := fresh()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("pii: key file: %w", err)
	}
	if _, err := f.WriteString(s + "\n"); err != nil {
		return "", fmt.Errorf("pii: key file: %w", errors.Join(err, f.Close()))
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("pii: key file: %w", err)
	}
	return s, nil
}

// Encrypt seals plaintext with the current key: "keyid:base64(nonce|ciphertext)".
func (k *Keyring) Encrypt(plaintext string) (string, error) {
	aead := k.aeads[k.current]
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("pii.Encrypt: %w", err)
	}
	sealed := aead.Seal(nonce, nonce, []byte(plaintext), []byte(k.current))
	return k.current + ":" + base64.RawStdEncoding.EncodeToString(sealed), nil
}

// Decrypt opens a value sealed by Encrypt with any key still in the ring.
func (k *Keyring) Decrypt(sealed string) (string, error) {
	id, b64, ok := strings.Cut(sealed, ":")
	aead, known := k.aeads[id]
	if !ok || !known {
		return "", fmt.Errorf("%w: unknown key id", ErrKeyring)
	}
	raw, err := base64.RawStdEncoding.DecodeString(b64)
	if err != nil || len(raw) < aead.NonceSize() {
		return "", fmt.Errorf("%w: malformed value", ErrKeyring)
	}
	plain, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], []byte(id))
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrKeyring, err)
	}
	return string(plain), nil
}

// Hash is the keyed hash used to find a value by exact match. kind separates
// domains, so an ID number and a phone never share a hash.
func (k *Keyring) Hash(kind, value string) string {
	m := hmac.New(sha256.New, k.hashKey)
	m.Write([]byte(kind))
	m.Write([]byte{0})
	m.Write([]byte(value))
	return hex.EncodeToString(m.Sum(nil))
}

// CurrentKeyID is the id of the key new values are sealed with.
func (k *Keyring) CurrentKeyID() string { return k.current }

// Hash kinds, so equal digits in different fields never share a hash.
const (
	KindPhone    = "phone"
	KindIDNumber = "id_number"
)
