print("weak-table-bench: work in progress")
