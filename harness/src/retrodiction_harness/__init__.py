"""A local Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager) run as processes for e2e tests."""
