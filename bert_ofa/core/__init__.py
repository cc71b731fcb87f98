"""The supernet core: elastic modules, the architecture table, the search space, subnets and their
samplers, conversion and the active-subnet switch, counting, extraction and importance."""
