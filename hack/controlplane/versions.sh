# Pinned versions of the local control plane (sourced by build.sh and gen-modules.sh).
# To bump: edit here, run `bash hack/controlplane/gen-modules.sh`, commit the go.mod/go.sum changes.
K8S_VERSION=v1.34.4    # k8s.io/kubernetes; the staging modules are pinned to v0.${minor}.${patch}
ETCD_VERSION=v3.6.16   # go.etcd.io/etcd/server/v3 (needs Go >= 1.26.0; v3.6.14 is the newest needing only 1.25)
HELM_VERSION=v3.19.5   # helm.sh/helm/v3 (built against k8s.io client libraries v0.34.2)
