"""Item analysis (试题分析) of a sitting: classical and IRT statistics, plots, review and estimates."""
