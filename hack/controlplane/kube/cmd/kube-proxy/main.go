// Copy of k8s.io/kubernetes cmd/kube-proxy/proxy.go (Apache-2.0, The Kubernetes Authors),
// built from the Go modules by hack/controlplane/build.sh for the real node of the e2e tier.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // for client metric registration
	_ "k8s.io/component-base/metrics/prometheus/version"  // for version metric registration
	"k8s.io/kubernetes/cmd/kube-proxy/app"
)

func main() {
	command := app.NewProxyCommand()
	code := cli.Run(command)
	os.Exit(code)
}
