# Meters, usage records and plans arrive with the usage capability (issue 4).
