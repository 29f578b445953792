// etcd server, as go.etcd.io/etcd/v3's main.go (Apache-2.0, The etcd Authors); built by
// hack/controlplane/build.sh. The version comes from go.etcd.io/etcd/api/v3/version.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
