package metrics

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// The metric types of the text format.
const (
	typeCounter   = "counter"
	typeGauge     = "gauge"
	typeHistogram = "histogram"
	typeSummary   = "summary"
)

// Set receives the samples of one scrape, grouped into families by name.
// A sample whose type or help differs from its family's, or whose labels
// are invalid, is left out and reported by the write.
type Set struct {
	fams map[string]*family
	errs []error
}

type family struct {
	name, help, typ string
	samples         []sample
}

// sample is one series: labels are sorted name/value pairs; value is the
// sum of a histogram or summary.
type sample struct {
	labels    []string
	value     float64
	count     uint64       // histogram, summary
	bounds    []float64    // histogram: upper bounds...
	cum       []uint64     // ...and the cumulative counts up to them
	quantiles [][2]float64 // summary: quantile, value
}

func newSet() *Set { return &Set{fams: map[string]*family{}} }

// Gauge adds one gauge sample; labels are name/value pairs.
func (s *Set) Gauge(name, help string, value float64, labels ...string) {
	s.add(name, help, typeGauge, sample{labels: labels, value: value})
}

// Counter adds one counter sample (a value kept elsewhere that only grows).
func (s *Set) Counter(name, help string, value float64, labels ...string) {
	s.add(name, help, typeCounter, sample{labels: labels, value: value})
}

func (s *Set) add(name, help, typ string, smp sample) {
	if err := checkLabels(name, smp.labels); err != nil {
		s.errs = append(s.errs, err)
		return
	}
	f := s.fams[name]
	switch {
	case f == nil:
		f = &family{name: name, help: help, typ: typ}
		s.fams[name] = f
	case f.typ != typ || f.help != help:
		s.errs = append(s.errs, fmt.Errorf("metrics: %s added as %s %q, before as %s %q", name, typ, help, f.typ, f.help))
		return
	}
	smp.labels = sortPairs(smp.labels)
	f.samples = append(f.samples, smp)
}

func checkLabels(name string, labels []string) error {
	if !validName(name, true) {
		return fmt.Errorf("metrics: invalid metric name %q", name)
	}
	if len(labels)%2 != 0 {
		return fmt.Errorf("metrics: odd label list for %s", name)
	}
	for i := 0; i < len(labels); i += 2 {
		if !validName(labels[i], false) {
			return fmt.Errorf("metrics: invalid label name %q of %s", labels[i], name)
		}
	}
	return nil
}

// validName: [a-zA-Z_:][a-zA-Z0-9_:]* for metrics, no colon in labels.
func validName(s string, colon bool) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || colon && c == ':' || i > 0 && c >= '0' && c <= '9'
		if !ok {
			return false
		}
	}
	return true
}

// sortPairs returns the pairs sorted by label name, as Prometheus' client
// writes them.
func sortPairs(p []string) []string {
	if len(p) <= 2 {
		return p
	}
	idx := make([]int, len(p)/2)
	for i := range idx {
		idx[i] = 2 * i
	}
	slices.SortFunc(idx, func(a, b int) int { return strings.Compare(p[a], p[b]) })
	out := make([]string, 0, len(p))
	for _, i := range idx {
		out = append(out, p[i], p[i+1])
	}
	return out
}

// compareSeries orders the series of a family by their label values.
func compareSeries(a, b sample) int {
	for i := 1; i < len(a.labels) && i < len(b.labels); i += 2 {
		if c := cmp.Or(strings.Compare(a.labels[i-1], b.labels[i-1]), strings.Compare(a.labels[i], b.labels[i])); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(a.labels), len(b.labels))
}

// write writes the families sorted by name, their series by label values,
// in the text format (version 0.0.4). It writes every valid sample and
// returns what was left out.
func (s *Set) write(bw *bytes.Buffer) error {
	names := make([]string, 0, len(s.fams))
	for n := range s.fams {
		names = append(names, n)
	}
	slices.Sort(names)
	errs := s.errs
	for _, n := range names {
		f := s.fams[n]
		slices.SortStableFunc(f.samples, compareSeries)
		fmt.Fprintf(bw, "# HELP %s %s\n# TYPE %s %s\n", f.name, escapeHelp(f.help), f.name, f.typ)
		for i, smp := range f.samples {
			if i > 0 && compareSeries(f.samples[i-1], smp) == 0 {
				errs = append(errs, fmt.Errorf("metrics: %s%s added before with the same name and label values", f.name, labelText(smp.labels, "", "")))
				continue
			}
			f.writeSample(bw, smp)
		}
	}
	return errors.Join(errs...)
}

func (f *family) writeSample(w *bytes.Buffer, smp sample) {
	switch f.typ {
	case typeHistogram:
		for i, b := range smp.bounds {
			fmt.Fprintf(w, "%s_bucket%s %d\n", f.name, labelText(smp.labels, "le", formatFloat(b)), smp.cum[i])
		}
		fmt.Fprintf(w, "%s_bucket%s %d\n", f.name, labelText(smp.labels, "le", "+Inf"), smp.count)
		fmt.Fprintf(w, "%s_sum%s %s\n%s_count%s %d\n", f.name, labelText(smp.labels, "", ""), formatFloat(smp.value),
			f.name, labelText(smp.labels, "", ""), smp.count)
	case typeSummary:
		for _, q := range smp.quantiles {
			fmt.Fprintf(w, "%s%s %s\n", f.name, labelText(smp.labels, "quantile", formatFloat(q[0])), formatFloat(q[1]))
		}
		fmt.Fprintf(w, "%s_sum%s %s\n%s_count%s %d\n", f.name, labelText(smp.labels, "", ""), formatFloat(smp.value),
			f.name, labelText(smp.labels, "", ""), smp.count)
	default:
		fmt.Fprintf(w, "%s%s %s\n", f.name, labelText(smp.labels, "", ""), formatFloat(smp.value))
	}
}

// labelText is {a="1",b="2"} with the extra pair k=v last when k is set;
// empty without labels.
func labelText(pairs []string, k, v string) string {
	if len(pairs) == 0 && k == "" {
		return ""
	}
	var b strings.Builder
	b.WriteByte('{')
	for i := 0; i < len(pairs); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(pairs[i])
		b.WriteString(`="`)
		b.WriteString(labelEscaper.Replace(pairs[i+1]))
		b.WriteByte('"')
	}
	if k != "" {
		if len(pairs) > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k)
		b.WriteString(`="`)
		b.WriteString(v)
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

var (
	labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
)

func escapeHelp(s string) string { return helpEscaper.Replace(s) }

// formatFloat writes a value as Prometheus' client does.
func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// WriteText writes the registry's metrics in the text format. Samples left
// out (a second series with the same labels, a family added with two
// types or helps) are reported after everything else was written.
func (r *Registry) WriteText(w io.Writer) error {
	s := newSet()
	r.gather(s)
	var b bytes.Buffer
	err := s.write(&b)
	if _, werr := w.Write(b.Bytes()); werr != nil {
		return werr
	}
	return err
}
