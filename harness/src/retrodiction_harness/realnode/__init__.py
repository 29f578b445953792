"""The real node of the e2e tier: kubelet, containerd and runc on this machine, behind a network guard."""
