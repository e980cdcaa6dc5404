package enrol

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// Mosquitto's password file format (mosquitto_passwd, Mosquitto ≥ 2.0):
// "user:$7$<iterations>$<base64 salt>$<base64 hash>" with PBKDF2-SHA512, a
// 12-byte salt, a 64-byte hash and 101 iterations by default (standard
// base64 with padding).
const (
	mosqIterations = 101
	mosqSaltLen    = 12
	mosqHashLen    = 64
)

// passwordBytes of randomness make a 32-character password.
const passwordBytes = 24

// bcryptCost is the cost of agent password hashes. The password is 192
// random bits: no cost makes guessing it from its hash any harder than it
// is, while every login (and every guess at the MQTT port) pays the cost.
const bcryptCost = bcrypt.MinCost

// NewPassword returns a random MQTT password (32 URL-safe characters).
func NewPassword() (string, error) {
	var b [passwordBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random password: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// BcryptHash is the hash the embedded broker checks.
func BcryptHash(password string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcryptCost)
	if err != nil {
		return "", fmt.Errorf("bcrypt: %w", err)
	}
	return string(h), nil
}

// MosquittoHash is the "$7$…" hash mosquitto_passwd writes for password.
func MosquittoHash(password string) (string, error) {
	salt := make([]byte, mosqSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("random salt: %w", err)
	}
	return mosquittoHash(password, salt, mosqIterations)
}

func mosquittoHash(password string, salt []byte, iter int) (string, error) {
	h, err := pbkdf2.Key(sha512.New, password, salt, iter, mosqHashLen)
	if err != nil {
		return "", fmt.Errorf("pbkdf2: %w", err)
	}
	enc := base64.StdEncoding
	return "$7$" + strconv.Itoa(iter) + "$" + enc.EncodeToString(salt) + "$" + enc.EncodeToString(h), nil
}

// IsMosquittoHash reports whether hash is in Mosquitto's "$7$" format.
func IsMosquittoHash(hash string) bool { return strings.HasPrefix(hash, "$7$") }

// VerifyMosquittoHash checks password against a "$7$" hash.
func VerifyMosquittoHash(hash, password string) error {
	parts := strings.Split(hash, "$")
	// "", "7", iterations, salt, hash
	if len(parts) != 5 || parts[0] != "" || parts[1] != "7" {
		return errors.New("not a mosquitto $7$ hash")
	}
	iter, err := strconv.Atoi(parts[2])
	if err != nil || iter < 1 || iter > 10_000_000 {
		return errors.New("mosquitto hash: bad iteration count")
	}
	salt, err := base64.StdEncoding.DecodeString(parts[3])
	if err != nil {
		return fmt.Errorf("mosquitto hash salt: %w", err)
	}
	want, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(want) == 0 {
		return errors.New("mosquitto hash: bad hash")
	}
	got, err := pbkdf2.Key(sha512.New, password, salt, iter, len(want))
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return errors.New("mosquitto hash: wrong password")
	}
	return nil
}

// VerifyHash checks password against a bcrypt or a Mosquitto "$7$" hash,
// so a config's server.users may hold either.
func VerifyHash(hash, password []byte) error {
	if IsMosquittoHash(string(hash)) {
		return VerifyMosquittoHash(string(hash), string(password))
	}
	return bcrypt.CompareHashAndPassword(hash, password)
}
