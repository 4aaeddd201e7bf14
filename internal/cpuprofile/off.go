//go:build !cpuprofile

package cpuprofile

import (
	"fmt"
	"os"
)

// Start does nothing in builds without the cpuprofile tag; a profile asked
// for is refused on stderr.
func Start(name string) (stop func()) {
	for _, v := range []string{"YUNPAN_CPUPROFILE", "YUNPAN_MEMPROFILE"} {
		if os.Getenv(v) != "" {
			fmt.Fprintf(os.Stderr, "%s: %s ignored: built without the cpuprofile tag (make build with it set adds the tag)\n", name, v)
		}
	}
	return func() {}
}
