package entrasim

import (
	"encoding/hex"
	"hash/fnv"
	"math"
)

// Everything the simulated tenant invents is a pure function of the seed and a few integers, computed with
// the splitmix64 mixer. No state is kept per event: an event is re-derived whenever it is needed.

// mix64 is the splitmix64 finaliser: a bijective, well-distributed 64-bit mixer.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// hashOf combines parts into one 64-bit key, order-sensitive.
func hashOf(parts ...uint64) uint64 {
	h := uint64(0x6a09e667f3bcc908)
	for _, p := range parts {
		h = mix64(h ^ mix64(p+0x9e3779b97f4a7c15))
	}
	return h
}

// strKey hashes a string into a key part (FNV-1a, stable across processes and versions).
func strKey(s string) uint64 {
	f := fnv.New64a()
	_, _ = f.Write([]byte(s))
	return f.Sum64()
}

// rng is a tiny deterministic generator (splitmix64). The zero value is usable; seed it with newRNG.
type rng struct{ s uint64 }

func newRNG(parts ...uint64) *rng { return &rng{s: hashOf(parts...)} }

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	return mix64(r.s)
}

// float returns a uniform value in [0, 1).
func (r *rng) float() float64 { return float64(r.next()>>11) / (1 << 53) }

// intn returns a value in [0, n); n must be positive. The modulo bias is below 2^-40 for the sizes used here.
func (r *rng) intn(n int) int { return int(r.next() % uint64(n)) }

// chance reports true with probability p.
func (r *rng) chance(p float64) bool { return r.float() < p }

// normal returns a standard normal variate (Box-Muller).
func (r *rng) normal() float64 {
	u1 := r.float()
	if u1 < 1e-300 {
		u1 = 1e-300
	}
	u2 := r.float()
	return math.Sqrt(-2*math.Log(u1)) * math.Cos(2*math.Pi*u2)
}

// poisson draws from a Poisson distribution with mean lambda: Knuth's product method for small means, a
// rounded normal approximation for large ones.
func (r *rng) poisson(lambda float64) int {
	if lambda <= 0 {
		return 0
	}
	if lambda > 40 {
		n := int(math.Round(lambda + math.Sqrt(lambda)*r.normal()))
		if n < 0 {
			return 0
		}
		return n
	}
	l := math.Exp(-lambda)
	k := 0
	for p := r.float(); p > l; p *= r.float() {
		k++
	}
	return k
}

// pick returns one element of list chosen by r.
func pick[T any](r *rng, list []T) T { return list[r.intn(len(list))] }

// guid formats 128 bits as a lowercase version-4 GUID string.
func guid(hi, lo uint64) string {
	var b [16]byte
	for i := 0; i < 8; i++ {
		b[i] = byte(hi >> (56 - 8*i))
		b[8+i] = byte(lo >> (56 - 8*i))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return formatGUID(b)
}

func formatGUID(b [16]byte) string {
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:36], b[10:16])
	return string(out[:])
}

// guidFrom derives a GUID from a key.
func guidFrom(parts ...uint64) string {
	h := hashOf(parts...)
	return guid(h, mix64(h^0xa5a5a5a5a5a5a5a5))
}

// rngGUID draws a GUID from r.
func (r *rng) guid() string { return guid(r.next(), r.next()) }
