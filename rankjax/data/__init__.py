"""What a run reads, below the tasks: records (rankjax.data.records), one reader per dataset
layout (readers), the TFDS builders (tfds_builders), and splits (load a dataset by name,
labeled / validation / test, the unlabeled pool). Tasks import this package; it imports no
task."""
