#!/bin/bash
# t_fault_cut.sh with node-b in a network namespace whose link is set
# down, so that its connection falls silent without a FIN or RST.
# Skipped (exit 77) where network namespaces are not permitted.
CUT=netns exec bash "$(dirname "$0")/t_fault_cut.sh"
