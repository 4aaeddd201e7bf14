// Package metrics writes the Prometheus text exposition format (version
// 0.0.4) by hand: counters, gauges and fixed-bucket histograms with labels,
// plus collectors that produce samples at scrape time (free space, sync
// lag, registry contents). It has no dependency beyond the standard library.
package metrics

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Metric types as written on the # TYPE line.
const (
	TypeCounter   = "counter"
	TypeGauge     = "gauge"
	TypeHistogram = "histogram"
)

// ContentType is the media type of the text format.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// DefBuckets are latency buckets in seconds, from 1 ms to 10 s.
var DefBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// maxSeries bounds the label combinations of one vector, so label values
// that come from the outside (a command byte, a status) cannot grow memory
// without limit; samples beyond it are counted under the "other" values.
const maxSeries = 1000

// Registry holds metric families and collectors and renders them.
type Registry struct {
	mu         sync.Mutex
	fams       map[string]*vec
	collectors []func(*Set)
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{fams: map[string]*vec{}} }

// vec is one family with fixed label names; children by joined label values.
type vec struct {
	name, help, typ string
	labels          []string
	buckets         []float64 // histograms only

	mu       sync.Mutex
	children map[string]*child
}

// child is one series (or, for a histogram, one label combination).
type child struct {
	values []string
	val    atomic.Uint64 // float64 bits: counter or gauge value, histogram sum
	counts []atomic.Uint64
	count  atomic.Uint64
}

func (c *child) add(d float64) {
	for {
		old := c.val.Load()
		if c.val.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+d)) {
			return
		}
	}
}

func (r *Registry) register(name, help, typ string, buckets []float64, labels []string) *vec {
	if !ValidName(name) {
		panic("metrics: invalid metric name " + strconv.Quote(name))
	}
	for _, l := range labels {
		if !validLabel(l) || l == "le" && typ == TypeHistogram {
			panic("metrics: invalid label name " + strconv.Quote(l))
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.fams[name]; dup {
		panic("metrics: duplicate metric " + name)
	}
	v := &vec{name: name, help: help, typ: typ, labels: slices.Clone(labels), buckets: buckets, children: map[string]*child{}}
	r.fams[name] = v
	return v
}

func (v *vec) with(values []string) *child {
	if len(values) != len(v.labels) {
		panic(fmt.Sprintf("metrics: %s wants %d label values, got %d", v.name, len(v.labels), len(values)))
	}
	key := strings.Join(values, "\xff")
	v.mu.Lock()
	defer v.mu.Unlock()
	if c, ok := v.children[key]; ok {
		return c
	}
	if len(v.children) >= maxSeries {
		values = make([]string, len(v.labels))
		for i := range values {
			values[i] = "other"
		}
		key = strings.Join(values, "\xff")
		if c, ok := v.children[key]; ok {
			return c
		}
	}
	c := &child{values: slices.Clone(values)}
	if v.typ == TypeHistogram {
		c.counts = make([]atomic.Uint64, len(v.buckets))
	}
	v.children[key] = c
	return c
}

// CounterVec is a counter family.
type CounterVec struct{ v *vec }

// Counter is one counter series.
type Counter struct{ c *child }

// NewCounter registers a counter family with the given label names.
func (r *Registry) NewCounter(name, help string, labels ...string) *CounterVec {
	return &CounterVec{r.register(name, help, TypeCounter, nil, labels)}
}

// With returns the series for the label values (in label-name order).
func (cv *CounterVec) With(values ...string) Counter { return Counter{cv.v.with(values)} }

// Inc adds 1.
func (c Counter) Inc() { c.c.add(1) }

// Add adds d; negative amounts are ignored (a counter never goes down).
func (c Counter) Add(d float64) {
	if d > 0 {
		c.c.add(d)
	}
}

// Value is the current value.
func (c Counter) Value() float64 { return math.Float64frombits(c.c.val.Load()) }

// GaugeVec is a gauge family.
type GaugeVec struct{ v *vec }

// Gauge is one gauge series.
type Gauge struct{ c *child }

// NewGauge registers a gauge family.
func (r *Registry) NewGauge(name, help string, labels ...string) *GaugeVec {
	return &GaugeVec{r.register(name, help, TypeGauge, nil, labels)}
}

// With returns the series for the label values.
func (gv *GaugeVec) With(values ...string) Gauge { return Gauge{gv.v.with(values)} }

// Set sets the value.
func (g Gauge) Set(v float64) { g.c.val.Store(math.Float64bits(v)) }

// Add adds d (which may be negative).
func (g Gauge) Add(d float64) { g.c.add(d) }

// Value is the current value.
func (g Gauge) Value() float64 { return math.Float64frombits(g.c.val.Load()) }

// HistogramVec is a histogram family with fixed buckets.
type HistogramVec struct{ v *vec }

// Histogram is one histogram series.
type Histogram struct {
	c       *child
	buckets []float64
}

// NewHistogram registers a histogram; buckets are upper bounds in
// increasing order (+Inf is implicit). nil means DefBuckets.
func (r *Registry) NewHistogram(name, help string, buckets []float64, labels ...string) *HistogramVec {
	if buckets == nil {
		buckets = DefBuckets
	}
	if !slices.IsSorted(buckets) || len(buckets) == 0 || math.IsInf(buckets[len(buckets)-1], 1) {
		panic("metrics: histogram buckets must be increasing and finite: " + name)
	}
	return &HistogramVec{r.register(name, help, TypeHistogram, slices.Clone(buckets), labels)}
}

// With returns the series for the label values.
func (hv *HistogramVec) With(values ...string) Histogram {
	return Histogram{hv.v.with(values), hv.v.buckets}
}

// Observe records one value.
func (h Histogram) Observe(v float64) {
	if math.IsNaN(v) {
		return
	}
	if i, _ := slices.BinarySearch(h.buckets, v); i < len(h.buckets) {
		h.c.counts[i].Add(1)
	}
	h.c.count.Add(1)
	h.c.add(v)
}

// Collect adds a function called at every scrape to add samples computed
// then (gauges of free space, counters kept elsewhere...).
func (r *Registry) Collect(f func(*Set)) {
	r.mu.Lock()
	r.collectors = append(r.collectors, f)
	r.mu.Unlock()
}

// Set gathers samples from collectors during one scrape.
type Set struct {
	fams map[string]*family
}

type family struct {
	name, help, typ string
	samples         []sample
}

type sample struct {
	name   string // with _bucket/_sum/_count suffix for histograms
	labels string // rendered {...} or ""
	value  float64
}

// Gauge adds one gauge sample; labels are name/value pairs.
func (s *Set) Gauge(name, help string, value float64, labels ...string) {
	s.add(name, help, TypeGauge, value, labels)
}

// Counter adds one counter sample (a value kept elsewhere that only grows).
func (s *Set) Counter(name, help string, value float64, labels ...string) {
	s.add(name, help, TypeCounter, value, labels)
}

func (s *Set) add(name, help, typ string, value float64, labels []string) {
	if !ValidName(name) || len(labels)%2 != 0 {
		panic("metrics: bad collector sample " + strconv.Quote(name))
	}
	f := s.fam(name, help, typ)
	var names, values []string
	for i := 0; i < len(labels); i += 2 {
		names = append(names, labels[i])
		values = append(values, labels[i+1])
	}
	f.samples = append(f.samples, sample{name, renderLabels(names, values, "", ""), value})
}

func (s *Set) fam(name, help, typ string) *family {
	f, ok := s.fams[name]
	if !ok {
		f = &family{name: name, help: help, typ: typ}
		s.fams[name] = f
	}
	return f
}

// WriteTo renders every family, sorted by name, series sorted by labels.
func (r *Registry) WriteTo(w io.Writer) (int64, error) { return r.write(w) }

// write renders the registry plus the samples of extra collectors.
func (r *Registry) write(w io.Writer, extra ...func(*Set)) (int64, error) {
	set := &Set{fams: map[string]*family{}}
	r.mu.Lock()
	vecs := make([]*vec, 0, len(r.fams))
	for _, v := range r.fams {
		vecs = append(vecs, v)
	}
	collectors := append(slices.Clone(r.collectors), extra...)
	r.mu.Unlock()
	for _, v := range vecs {
		v.snapshot(set)
	}
	for _, c := range collectors {
		c(set)
	}
	names := make([]string, 0, len(set.fams))
	for n := range set.fams {
		names = append(names, n)
	}
	slices.Sort(names)
	var b strings.Builder
	for _, n := range names {
		f := set.fams[n]
		if f.help != "" {
			fmt.Fprintf(&b, "# HELP %s %s\n", f.name, escapeHelp(f.help))
		}
		fmt.Fprintf(&b, "# TYPE %s %s\n", f.name, f.typ)
		if f.typ != TypeHistogram { // histogram lines keep their bucket order
			slices.SortStableFunc(f.samples, func(a, b sample) int { return strings.Compare(a.labels, b.labels) })
		}
		for _, s := range f.samples {
			b.WriteString(s.name)
			b.WriteString(s.labels)
			b.WriteByte(' ')
			b.WriteString(FormatValue(s.value))
			b.WriteByte('\n')
		}
	}
	n, err := io.WriteString(w, b.String())
	return int64(n), err
}

// snapshot adds the vector's series to set.
func (v *vec) snapshot(set *Set) {
	v.mu.Lock()
	kids := make([]*child, 0, len(v.children))
	for _, c := range v.children {
		kids = append(kids, c)
	}
	v.mu.Unlock()
	if len(kids) == 0 {
		return // a family with no series is left out, as client libraries do
	}
	slices.SortFunc(kids, func(a, b *child) int { return slices.Compare(a.values, b.values) })
	f := set.fam(v.name, v.help, v.typ)
	for _, c := range kids {
		val := math.Float64frombits(c.val.Load())
		if v.typ != TypeHistogram {
			f.samples = append(f.samples, sample{v.name, renderLabels(v.labels, c.values, "", ""), val})
			continue
		}
		// Read the total first: buckets incremented after it can only make
		// the cumulative counts larger, never inconsistent with +Inf.
		var cum uint64
		total := c.count.Load()
		for i, ub := range v.buckets {
			cum += c.counts[i].Load()
			f.samples = append(f.samples, sample{v.name + "_bucket", renderLabels(v.labels, c.values, "le", FormatValue(ub)), float64(min(cum, total))})
		}
		f.samples = append(f.samples,
			sample{v.name + "_bucket", renderLabels(v.labels, c.values, "le", "+Inf"), float64(max(total, cum))},
			sample{v.name + "_sum", renderLabels(v.labels, c.values, "", ""), val},
			sample{v.name + "_count", renderLabels(v.labels, c.values, "", ""), float64(max(total, cum))})
	}
}

func renderLabels(names, values []string, extraName, extraValue string) string {
	if len(names) == 0 && extraName == "" {
		return ""
	}
	var b strings.Builder
	b.WriteByte('{')
	for i, n := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(n)
		b.WriteString(`="`)
		b.WriteString(escapeLabel(values[i]))
		b.WriteByte('"')
	}
	if extraName != "" {
		if len(names) > 0 {
			b.WriteByte(',')
		}
		b.WriteString(extraName)
		b.WriteString(`="`)
		b.WriteString(escapeLabel(extraValue))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

var (
	labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
)

func escapeLabel(s string) string { return labelEscaper.Replace(s) }
func escapeHelp(s string) string  { return helpEscaper.Replace(s) }

// FormatValue prints a sample value: integers without exponent, +Inf,
// -Inf, NaN as the format spells them.
func FormatValue(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// ValidName reports whether s is a metric name [a-zA-Z_:][a-zA-Z0-9_:]*.
func ValidName(s string) bool { return validIdent(s, true) }

func validLabel(s string) bool { return validIdent(s, false) && !strings.HasPrefix(s, "__") }

func validIdent(s string, colon bool) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9' || colon && c == ':'
		if !ok {
			return false
		}
	}
	return true
}
