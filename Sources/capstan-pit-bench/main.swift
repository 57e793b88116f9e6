print("pit bench")
