// Package metrics is what the daemons and the FastCGI programs share on top
// of Prometheus' client library: a registry per process with the go_ and
// process_ collectors, the latency buckets, a collector for values read at
// scrape time (Set) and the /metrics listener (server.go).
package metrics

import (
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// LatencyBuckets are request latency buckets in seconds, from 1 ms to 10 s.
var LatencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// NewRegistry returns a registry for a process's own metrics. Each daemon or
// program has its own, so that tests can run several in one process; Handler
// adds the go_ and process_ collectors operators expect.
func NewRegistry() *prometheus.Registry { return prometheus.NewRegistry() }

// Collector is a prometheus.Collector whose samples a function adds at
// every scrape, for values kept elsewhere (free space, connections, the
// state of peers). It describes nothing ahead: the registry checks its
// families when gathering (one type and help per name, no series twice).
type Collector struct {
	fn func(*Set)

	mu    sync.Mutex
	descs map[string]*prometheus.Desc // by name and label names
}

// NewCollector returns the collector of fn; register it on a registry.
func NewCollector(fn func(*Set)) *Collector {
	return &Collector{fn: fn, descs: map[string]*prometheus.Desc{}}
}

// Describe sends nothing: the collector is unchecked.
func (c *Collector) Describe(chan<- *prometheus.Desc) {}

// Collect runs the function.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.fn(&Set{c: c, ch: ch})
}

// Set receives the samples of one scrape.
type Set struct {
	c  *Collector
	ch chan<- prometheus.Metric
}

// Gauge adds one gauge sample; labels are name/value pairs.
func (s *Set) Gauge(name, help string, value float64, labels ...string) {
	s.add(name, help, prometheus.GaugeValue, value, labels)
}

// Counter adds one counter sample (a value kept elsewhere that only grows).
func (s *Set) Counter(name, help string, value float64, labels ...string) {
	s.add(name, help, prometheus.CounterValue, value, labels)
}

func (s *Set) add(name, help string, typ prometheus.ValueType, value float64, labels []string) {
	if len(labels)%2 != 0 {
		panic("metrics: odd label list for " + name)
	}
	var names, values []string
	for i := 0; i < len(labels); i += 2 {
		names = append(names, labels[i])
		values = append(values, labels[i+1])
	}
	s.ch <- prometheus.MustNewConstMetric(s.c.desc(name, help, names), typ, value, values...)
}

// desc keeps one Desc per name and label names: building one hashes and
// validates them, so scrapes reuse it.
func (c *Collector) desc(name, help string, labels []string) *prometheus.Desc {
	key := name + "\xff" + strings.Join(labels, "\xff")
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.descs[key]
	if !ok {
		d = prometheus.NewDesc(name, help, labels, nil)
		c.descs[key] = d
	}
	return d
}
