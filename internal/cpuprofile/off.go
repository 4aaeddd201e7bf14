//go:build !cpuprofile

package cpuprofile

import (
	"fmt"
	"os"
)

// Start does nothing in builds without the cpuprofile tag; a profile asked
// for is refused on stderr.
func Start(name string) (stop func()) {
	if os.Getenv("YUNPAN_CPUPROFILE") != "" {
		fmt.Fprintf(os.Stderr, "%s: YUNPAN_CPUPROFILE ignored: built without the cpuprofile tag (make build with YUNPAN_CPUPROFILE set adds it)\n", name)
	}
	return func() {}
}
