// Package scrape reads what a /metrics endpoint or a registry exposes, for
// tests and test harnesses: the samples of the Prometheus text format, one
// per line (a histogram as name_bucket{le=...}, name_sum and name_count),
// and the type of each family.
package scrape

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// Sample is one line of the text format.
type Sample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// Samples is one scrape.
type Samples struct {
	List  []Sample
	Types map[string]string // family name → counter, gauge, histogram, ...
}

// maxBody bounds what Get reads of a response.
const maxBody = 8 << 20

// Get fetches and parses url (http://host:port/metrics) with c.
func Get(ctx context.Context, c *http.Client, url string) (*Samples, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	ct := resp.Header.Get("Content-Type")
	if mt, params, err := mime.ParseMediaType(ct); err != nil || mt != "text/plain" || params["version"] != "0.0.4" {
		return nil, fmt.Errorf("GET %s: content type %q is not the text format", url, ct)
	}
	return Parse(io.LimitReader(resp.Body, maxBody))
}

// Gatherer is a registry (metrics.Registry).
type Gatherer interface {
	WriteText(io.Writer) error
}

// Gather reads a registry directly.
func Gather(g Gatherer) (*Samples, error) {
	var b bytes.Buffer
	if err := g.WriteText(&b); err != nil {
		return nil, err
	}
	return Parse(&b)
}

// Parse reads the text format (version 0.0.4).
func Parse(r io.Reader) (*Samples, error) {
	out := &Samples{Types: map[string]string{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if c, ok := strings.CutPrefix(line, "#"); ok {
			if f := strings.Fields(c); len(f) >= 3 && f[0] == "TYPE" {
				out.Types[f[1]] = f[2]
			}
			continue
		}
		s, err := parseSample(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		out.List = append(out.List, s)
	}
	return out, sc.Err()
}

// parseSample reads name{label="value",...} value [timestamp].
func parseSample(line string) (Sample, error) {
	s := Sample{Labels: map[string]string{}}
	i := 0
	for i < len(line) && isNameByte(line[i], i > 0, true) {
		i++
	}
	if i == 0 {
		return s, fmt.Errorf("no metric name in %q", line)
	}
	s.Name, line = line[:i], line[i:]
	if rest, ok := strings.CutPrefix(line, "{"); ok {
		var err error
		if line, err = parseLabels(rest, s.Labels); err != nil {
			return s, fmt.Errorf("%s: %w", s.Name, err)
		}
	}
	f := strings.Fields(line)
	if len(f) < 1 || len(f) > 2 || line[0] != ' ' && line[0] != '\t' {
		return s, fmt.Errorf("%s: want a value and at most a timestamp, got %q", s.Name, line)
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return s, fmt.Errorf("%s: %w", s.Name, err)
	}
	if len(f) == 2 {
		if _, err := strconv.ParseInt(f[1], 10, 64); err != nil {
			return s, fmt.Errorf("%s: timestamp: %w", s.Name, err)
		}
	}
	s.Value = v
	return s, nil
}

// parseLabels reads label="value" pairs up to the closing brace into m and
// returns what follows it.
func parseLabels(line string, m map[string]string) (string, error) {
	for {
		line = strings.TrimLeft(line, " ")
		if rest, ok := strings.CutPrefix(line, "}"); ok {
			return rest, nil
		}
		i := 0
		for i < len(line) && isNameByte(line[i], i > 0, false) {
			i++
		}
		name := line[:i]
		if name == "" || !strings.HasPrefix(line[i:], `="`) {
			return "", fmt.Errorf("bad label at %q", line)
		}
		line = line[i+2:]
		var v strings.Builder
		for {
			if line == "" {
				return "", fmt.Errorf("label %s: unterminated value", name)
			}
			c := line[0]
			line = line[1:]
			if c == '"' {
				break
			}
			if c == '\\' {
				if line == "" {
					return "", fmt.Errorf("label %s: unterminated value", name)
				}
				switch line[0] {
				case 'n':
					c = '\n'
				case '\\', '"':
					c = line[0]
				default:
					return "", fmt.Errorf("label %s: bad escape \\%c", name, line[0])
				}
				line = line[1:]
			}
			v.WriteByte(c)
		}
		if _, dup := m[name]; dup {
			return "", fmt.Errorf("label %s twice", name)
		}
		m[name] = v.String()
		line = strings.TrimLeft(line, " ")
		if rest, ok := strings.CutPrefix(line, ","); ok {
			line = rest
		} else if !strings.HasPrefix(line, "}") {
			return "", fmt.Errorf("bad label list at %q", line)
		}
	}
}

// isNameByte: [a-zA-Z_:][a-zA-Z0-9_:]* for metrics, no colon in labels.
func isNameByte(c byte, digit, colon bool) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || colon && c == ':' || digit && c >= '0' && c <= '9'
}

// Find returns the samples called name whose labels include every given
// name/value pair.
func (ss *Samples) Find(name string, labels ...string) []Sample {
	var out []Sample
next:
	for _, s := range ss.List {
		if s.Name != name {
			continue
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if s.Labels[labels[i]] != labels[i+1] {
				continue next
			}
		}
		out = append(out, s)
	}
	return out
}

// Sum adds the values of Find(name, labels...); ok is false when none match.
func (ss *Samples) Sum(name string, labels ...string) (sum float64, ok bool) {
	for _, s := range ss.Find(name, labels...) {
		sum += s.Value
		ok = true
	}
	return sum, ok
}
