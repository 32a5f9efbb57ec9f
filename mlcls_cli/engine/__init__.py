"""Training and evaluation engine (paddle is imported by the functions that need it, never here).

- :mod:`.trainer`: ``plan_training`` (config -> checked :class:`~.trainer.TrainPlan`) and ``Trainer``.
- :mod:`.evaluator`: ``plan_evaluation`` / ``run_evaluation`` behind ``mlcls eval``; the shared
  ``predict_logits`` and ``multilabel_map`` the trainer uses too.
- :mod:`.checkpoint`, :mod:`.outputs`: checkpoint folders, ``train_result.json``, logs.
- :mod:`.distributed`, :mod:`.device`: device choice and data-parallel runs through
  ``paddle.distributed.launch``.
- :mod:`.plots`: precision-recall curves and the AP bar chart.
- The recipe: :mod:`.dataset`, :mod:`.transforms`, :mod:`.randaugment`, :mod:`.loss`,
  :mod:`.optim`, :mod:`.ema`, :mod:`.seeding`.
"""
