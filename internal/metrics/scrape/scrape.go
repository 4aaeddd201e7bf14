// Package scrape reads what a /metrics endpoint or a registry exposes, for
// tests and test harnesses: families parsed by expfmt, flattened into the
// samples the text format shows (a histogram as name_bucket{le=...},
// name_sum and name_count).
package scrape

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
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
	if ct := resp.Header.Get("Content-Type"); expfmt.ResponseFormat(resp.Header).FormatType() != expfmt.TypeTextPlain {
		return nil, fmt.Errorf("GET %s: content type %q is not the text format", url, ct)
	}
	return Parse(io.LimitReader(resp.Body, maxBody))
}

// Parse reads the text format.
func Parse(r io.Reader) (*Samples, error) {
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, err
	}
	out := &Samples{Types: map[string]string{}}
	for _, f := range fams {
		out.add(f)
	}
	return out, nil
}

// Gather reads a registry directly.
func Gather(g prometheus.Gatherer) (*Samples, error) {
	fams, err := g.Gather()
	if err != nil {
		return nil, err
	}
	out := &Samples{Types: map[string]string{}}
	for _, f := range fams {
		out.add(f)
	}
	return out, nil
}

func (ss *Samples) add(f *dto.MetricFamily) {
	name := f.GetName()
	ss.Types[name] = strings.ToLower(f.GetType().String())
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		switch {
		case m.Counter != nil:
			ss.put(name, labels, m.GetCounter().GetValue())
		case m.Gauge != nil:
			ss.put(name, labels, m.GetGauge().GetValue())
		case m.Untyped != nil:
			ss.put(name, labels, m.GetUntyped().GetValue())
		case m.Histogram != nil:
			h := m.GetHistogram()
			for _, b := range h.GetBucket() {
				if math.IsInf(b.GetUpperBound(), 1) {
					continue // the +Inf bucket is the count, added below
				}
				ss.put(name+"_bucket", with(labels, "le", formatBound(b.GetUpperBound())), float64(b.GetCumulativeCount()))
			}
			ss.put(name+"_bucket", with(labels, "le", "+Inf"), float64(h.GetSampleCount()))
			ss.put(name+"_sum", labels, h.GetSampleSum())
			ss.put(name+"_count", labels, float64(h.GetSampleCount()))
		case m.Summary != nil:
			s := m.GetSummary()
			ss.put(name+"_sum", labels, s.GetSampleSum())
			ss.put(name+"_count", labels, float64(s.GetSampleCount()))
		}
	}
}

func (ss *Samples) put(name string, labels map[string]string, v float64) {
	ss.List = append(ss.List, Sample{Name: name, Labels: labels, Value: v})
}

func with(labels map[string]string, k, v string) map[string]string {
	out := make(map[string]string, len(labels)+1)
	for a, b := range labels {
		out[a] = b
	}
	out[k] = v
	return out
}

func formatBound(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

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
