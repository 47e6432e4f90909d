package entrasim

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Dist is a distribution of durations: Fixed, plus a uniform share in [0, Jitter), plus (when Median > 0) a
// lognormal share with that median and shape Sigma, the sum capped at Max when Max > 0. The zero Dist is
// always zero. It describes page latency and the ingestion delay of log events.
type Dist struct {
	Fixed  time.Duration
	Jitter time.Duration
	Median time.Duration
	Sigma  float64
	Max    time.Duration
}

// IsZero reports whether d always yields zero.
func (d Dist) IsZero() bool { return d.Fixed == 0 && d.Jitter == 0 && d.Median == 0 }

// sample draws one value using r.
func (d Dist) sample(r *rng) time.Duration {
	v := d.Fixed
	if d.Jitter > 0 {
		v += time.Duration(r.float() * float64(d.Jitter))
	}
	if d.Median > 0 {
		sigma := d.Sigma
		if sigma <= 0 {
			sigma = 0.5
		}
		v += time.Duration(float64(d.Median) * math.Exp(sigma*r.normal()))
	}
	if d.Max > 0 && v > d.Max {
		v = d.Max
	}
	if v < 0 {
		v = 0
	}
	return v
}

// String renders d in the form ParseDist reads.
func (d Dist) String() string {
	var parts []string
	if d.Fixed != 0 {
		parts = append(parts, "fixed="+d.Fixed.String())
	}
	if d.Jitter != 0 {
		parts = append(parts, "jitter="+d.Jitter.String())
	}
	if d.Median != 0 {
		parts = append(parts, "median="+d.Median.String())
		if d.Sigma != 0 {
			parts = append(parts, "sigma="+strconv.FormatFloat(d.Sigma, 'g', -1, 64))
		}
	}
	if d.Max != 0 {
		parts = append(parts, "max="+d.Max.String())
	}
	if len(parts) == 0 {
		return "0"
	}
	return strings.Join(parts, ",")
}

// ParseDist reads a distribution: "0" (none), a single duration ("50ms", fixed), or comma-separated
// key=value pairs with keys fixed, jitter, median, sigma and max, e.g. "fixed=40ms,jitter=20ms" or
// "median=80ms,sigma=0.6,max=2s".
func ParseDist(s string) (Dist, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "0" {
		return Dist{}, nil
	}
	if !strings.Contains(s, "=") {
		v, err := time.ParseDuration(s)
		if err != nil {
			return Dist{}, fmt.Errorf("distribution %q: %w", s, err)
		}
		return Dist{Fixed: v}, nil
	}
	var d Dist
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return Dist{}, fmt.Errorf("distribution %q: %q is not key=value", s, part)
		}
		var err error
		switch strings.ToLower(k) {
		case "fixed":
			d.Fixed, err = time.ParseDuration(v)
		case "jitter":
			d.Jitter, err = time.ParseDuration(v)
		case "median":
			d.Median, err = time.ParseDuration(v)
		case "max":
			d.Max, err = time.ParseDuration(v)
		case "sigma":
			d.Sigma, err = strconv.ParseFloat(v, 64)
		default:
			return Dist{}, fmt.Errorf("distribution %q: unknown key %q (fixed, jitter, median, sigma, max)", s, k)
		}
		if err != nil {
			return Dist{}, fmt.Errorf("distribution %q: %s: %w", s, k, err)
		}
	}
	if d.Fixed < 0 || d.Jitter < 0 || d.Median < 0 || d.Max < 0 || d.Sigma < 0 {
		return Dist{}, fmt.Errorf("distribution %q: negative value", s)
	}
	return d, nil
}
