"""837P/837I submission files for DHCS: building them and allocating their control numbers."""
