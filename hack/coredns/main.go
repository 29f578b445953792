// CoreDNS with only the plugins the real node's cluster DNS uses (built by build.sh): the upstream
// coredns.go imports every plugin of plugin.cfg (cloud providers, etcd, ...); this one imports these and
// selects them as the directives, in plugin.cfg's order (the order a request passes through them).
// Without a `forward` plugin the server can answer nothing but the cluster's names, and `loop` (which
// detects forwarding loops) has nothing to check.
package main

import (
	"fmt"
	"os"

	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
)

// directives: the plugins above, in the order of CoreDNS's plugin.cfg.
var directives = []string{
	"reload",
	"ready",
	"health",
	"errors",
	"log",
	"loadbalance",
	"cache",
	"kubernetes",
}

func main() {
	if err := dnsserver.SetDirectives(directives); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	coremain.Run()
}
