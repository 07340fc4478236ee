import json
import pickle

config = json.load(open("config.json"))
with open("cache.pkl", "rb") as handle:
    cache = pickle.load(handle)


def load(path):
    return path


load("model.pt")
