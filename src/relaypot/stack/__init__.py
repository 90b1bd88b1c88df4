"""The stack personality: what nmap -O and p0f see of the host (relaypot stack)."""
