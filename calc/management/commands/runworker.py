from channels.management.commands.runworker import Command as ChannelsRunworker

from calc.worker import CalcWorker


class Command(ChannelsRunworker):
    help = "Run the calculation worker: `runworker calc` (with the sweeper)."
    worker_class = CalcWorker
