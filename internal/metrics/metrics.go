// Package metrics is the Prometheus text exposition the daemons and the
// FastCGI programs share: a registry per process of counters, gauges and
// histograms, functions that add values read at scrape time (Set), the go_
// and process_ metrics (runtime.go) and the /metrics listener (server.go).
//
// It is written here rather than taken from Prometheus' client library,
// whose packages (protobuf, procfs, client_model, expfmt, net/http) made up
// much of what a daemon had resident: only the text format is served, and
// the hot paths (With, Inc, Observe) do not allocate.
package metrics

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// LatencyBuckets are request latency buckets in seconds, from 1 ms to 10 s.
var LatencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// Registry holds a process's own metrics. Each daemon or program has its
// own, so that tests can run several in one process; Handler adds the go_
// and process_ metrics operators expect.
type Registry struct {
	mu      sync.Mutex
	names   map[string]bool // of the metrics made by the registry
	collect []func(*Set)

	lastSize atomic.Int64 // of the last scrape, to size the next one's buffer
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{names: map[string]bool{}} }

// Collect adds fn, which adds its samples at every scrape: values kept
// elsewhere (free space, connections, the state of peers). Nothing is
// described ahead: WriteText checks the families (one type and help per
// name, no series twice).
func (r *Registry) Collect(fn func(*Set)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.collect = append(r.collect, fn)
}

// metric registers the name of a metric the registry keeps; a name twice
// is a programming error.
func (r *Registry) metric(name string, labels []string, fn func(*Set)) {
	if !validName(name, true) {
		panic("metrics: invalid metric name " + strconv.Quote(name))
	}
	for _, l := range labels {
		if !validName(l, false) || l == "le" || l == "quantile" {
			panic("metrics: invalid label name " + strconv.Quote(l) + " of " + name)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.names[name] {
		panic("metrics: " + name + " registered twice")
	}
	r.names[name] = true
	r.collect = append(r.collect, fn)
}

// gather adds every sample of the registry to s.
func (r *Registry) gather(s *Set) {
	r.mu.Lock()
	fns := slices.Clone(r.collect)
	r.mu.Unlock()
	for _, fn := range fns {
		fn(s)
	}
}

// Counter returns a new counter called name.
func (r *Registry) Counter(name, help string) *Counter {
	c := &Counter{}
	r.metric(name, nil, func(s *Set) { s.Counter(name, help, c.Value()) })
	return c
}

// CounterVec returns a new counter family called name with the given label
// names.
func (r *Registry) CounterVec(name, help string, labels ...string) *CounterVec {
	v := &CounterVec{newVec(labels, func() *Counter { return &Counter{} })}
	r.metric(name, labels, func(s *Set) {
		v.v.each(func(values []string, c *Counter) { s.Counter(name, help, c.Value(), pairs(labels, values)...) })
	})
	return v
}

// Gauge returns a new gauge called name.
func (r *Registry) Gauge(name, help string) *Gauge {
	g := &Gauge{}
	r.metric(name, nil, func(s *Set) { s.Gauge(name, help, g.Value()) })
	return g
}

// HistogramVec returns a new histogram family called name with the given
// upper bounds (increasing; the +Inf bucket is implied) and label names.
func (r *Registry) HistogramVec(name, help string, bounds []float64, labels ...string) *HistogramVec {
	if !slices.IsSorted(bounds) || len(bounds) > 0 && math.IsInf(bounds[len(bounds)-1], 1) {
		panic("metrics: buckets of " + name + " must increase and leave out +Inf")
	}
	bounds = slices.Clone(bounds)
	v := &HistogramVec{newVec(labels, func() *Histogram {
		return &Histogram{bounds: bounds, counts: make([]atomic.Uint64, len(bounds)+1)}
	})}
	r.metric(name, labels, func(s *Set) {
		v.v.each(func(values []string, h *Histogram) { h.add(s, name, help, pairs(labels, values)) })
	})
	return v
}

// pairs zips label names and values into name/value pairs.
func pairs(names, values []string) []string {
	out := make([]string, 0, 2*len(names))
	for i, n := range names {
		out = append(out, n, values[i])
	}
	return out
}

// floatBits is a float64 updated atomically.
type floatBits struct{ bits atomic.Uint64 }

func (f *floatBits) load() float64   { return math.Float64frombits(f.bits.Load()) }
func (f *floatBits) store(v float64) { f.bits.Store(math.Float64bits(v)) }

func (f *floatBits) add(v float64) {
	for {
		old := f.bits.Load()
		if f.bits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

// Counter is a value that only grows.
type Counter struct {
	n    atomic.Uint64 // whole increments, the common case: one atomic add
	frac floatBits     // the rest
}

// Inc adds one.
func (c *Counter) Inc() { c.n.Add(1) }

// Add adds v, which must not be negative.
func (c *Counter) Add(v float64) {
	if v < 0 {
		panic("metrics: counter decreased")
	}
	if u := uint64(v); float64(u) == v {
		c.n.Add(u)
		return
	}
	c.frac.add(v)
}

// Value is the current count.
func (c *Counter) Value() float64 { return float64(c.n.Load()) + c.frac.load() }

// Gauge is a value that goes up and down.
type Gauge struct{ v floatBits }

// Set sets the value.
func (g *Gauge) Set(v float64) { g.v.store(v) }

// Add adds v (negative to subtract).
func (g *Gauge) Add(v float64) { g.v.add(v) }

// Inc adds one.
func (g *Gauge) Inc() { g.Add(1) }

// Dec subtracts one.
func (g *Gauge) Dec() { g.Add(-1) }

// SetToCurrentTime sets the value to the Unix time in seconds.
func (g *Gauge) SetToCurrentTime() { g.Set(float64(time.Now().UnixNano()) / 1e9) }

// Value is the current value.
func (g *Gauge) Value() float64 { return g.v.load() }

// Histogram counts observations into buckets by upper bound (Prometheus'
// cumulative le buckets when written).
type Histogram struct {
	bounds []float64
	counts []atomic.Uint64 // per bucket, not cumulative; the last is above every bound
	sum    floatBits
}

// Observe counts v into the first bucket whose bound is at least v.
func (h *Histogram) Observe(v float64) {
	i := 0
	for i < len(h.bounds) && v > h.bounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.add(v)
}

// add writes the histogram's buckets, sum and count. The count is the sum
// of the buckets, so the +Inf bucket always equals it.
func (h *Histogram) add(s *Set, name, help string, labels []string) {
	cum := make([]uint64, len(h.counts))
	var n uint64
	for i := range h.counts {
		n += h.counts[i].Load()
		cum[i] = n
	}
	s.add(name, help, typeHistogram, sample{labels: labels, value: h.sum.load(), count: n, bounds: h.bounds, cum: cum[:len(h.bounds)]})
}

// CounterVec is a counter per combination of label values.
type CounterVec struct{ v *vec[Counter] }

// With returns the counter of the label values (in the order of the label
// names), made on first use.
func (v *CounterVec) With(values ...string) *Counter { return v.v.with(values) }

// HistogramVec is a histogram per combination of label values.
type HistogramVec struct{ v *vec[Histogram] }

// With returns the histogram of the label values, made on first use.
func (v *HistogramVec) With(values ...string) *Histogram { return v.v.with(values) }

// vec keeps one M per combination of label values. Lookups of an existing
// one take a read lock and allocate nothing.
type vec[M any] struct {
	labels []string
	make   func() *M

	mu sync.RWMutex
	m  map[string]*vecEntry[M] // by the values joined with 0xff
}

type vecEntry[M any] struct {
	values []string
	m      *M
}

func newVec[M any](labels []string, make func() *M) *vec[M] {
	return &vec[M]{labels: slices.Clone(labels), make: make, m: map[string]*vecEntry[M]{}}
}

func (v *vec[M]) with(values []string) *M {
	if len(values) != len(v.labels) {
		panic(fmt.Sprintf("metrics: %d label values for labels %v", len(values), v.labels))
	}
	var buf [64]byte
	key := buf[:0]
	for i, s := range values {
		if i > 0 {
			key = append(key, 0xff)
		}
		key = append(key, s...)
	}
	v.mu.RLock()
	e := v.m[string(key)]
	v.mu.RUnlock()
	if e != nil {
		return e.m
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if e = v.m[string(key)]; e == nil {
		e = &vecEntry[M]{values: slices.Clone(values), m: v.make()}
		v.m[string(key)] = e
	}
	return e.m
}

// each calls fn for every combination made so far.
func (v *vec[M]) each(fn func(values []string, m *M)) {
	v.mu.RLock()
	entries := make([]*vecEntry[M], 0, len(v.m))
	for _, e := range v.m {
		entries = append(entries, e)
	}
	v.mu.RUnlock()
	for _, e := range entries {
		fn(e.values, e.m)
	}
}

// byteNames are the decimal forms of 0..255 (strconv.Itoa allocates from 100).
var byteNames = func() (a [256]string) {
	for i := range a {
		a[i] = strconv.Itoa(i)
	}
	return a
}()

// Byte is b in decimal, a label value for a command or status code that
// costs no allocation.
func Byte(b byte) string { return byteNames[b] }
